//! The account: one Official Account served by this deployment, and the
//! unit everything that acts for an account is composed of.
//!
//! - [`Account`]: its name and app id, its callback crypto (Token,
//!   EncodingAESKey), its WeChat API client with its credentials (the
//!   access_token and jsapi_ticket, kept in its own store scope), its store
//!   scope ([`Stores::for_account`]) and what plugin calls act for
//!   ([`AccountScope`]: its plugin set, grants and host services). Built
//!   from one account's [`AccountSettings`]; the plugin engine, instance
//!   pool, compile cache and registry stay shared by all accounts.
//! - [`Accounts`]: the registry, by name and by app id, swapped whole at
//!   runtime (an `ArcSwap`): a request looks its account up once and keeps
//!   that value for all its work, so a change never reaches a push half-way.
//! - `runtime.rs`: accounts added, changed and removed through the admin
//!   API, kept in the store and picked up by every instance within a second
//!   ([`Accounts::watch`]); `secrets.rs`: their credentials sealed at rest.
//!
//! Every handler gets the account it serves from here and passes it on; no
//! global or thread-local account exists to be switched (WxJava's
//! `ThreadLocal` account switch, lost across async hand-offs, is that SDK's
//! most reported multi-account bug).

mod runtime;
pub mod secrets;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;

use crate::api::jssdk::JsSdk;
use crate::api::{ApiOptions, PluginApi, Wechat};
use crate::config::secrets::Secrets;
use crate::config::{AccountSettings, Config, web_host};
use crate::plugin::{AccountGrants, AccountScope, AccountSwitches, HostServices, OutboundSlot};
use crate::protocol::{Callback, CallbackSettings};
use crate::store::{DEFAULT_ACCOUNT, Stores};

pub use runtime::{AccountChange, AccountView};
pub use secrets::SecretsKey;

/// Where an account was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `[wechat]` or `[account.<name>]`.
    Config,
    /// Added through the admin API (kept in the store).
    Runtime,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Runtime => "runtime",
        }
    }
}

/// One Official Account and everything that acts for it.
pub struct Account {
    pub name: Arc<str>,
    pub app_id: Arc<str>,
    /// Verifies, decrypts and seals its pushes.
    pub callback: Callback,
    /// Its API client (access_token in its store scope), when it has an
    /// AppSecret.
    pub wechat: Option<Arc<Wechat>>,
    /// Signs JS-SDK configs with its jsapi_ticket, for pages on its origin.
    pub jssdk: Option<Arc<JsSdk>>,
    /// Its store scope.
    pub stores: Stores,
    /// What plugin calls for it act with.
    pub plugins: Arc<AccountScope>,
    /// The settings it was built from (`Debug` redacts the credentials).
    pub settings: AccountSettings,
    pub origin: Origin,
    /// A runtime account's `updated_ms` when it was built (0: the config's).
    pub version: i64,
    /// The origin its web pages, OAuth and JS-SDK signatures are on: its
    /// `[account.<name>.web] public_url`, else the deployment's.
    pub web_origin: Arc<str>,
    /// The `Host` its own `public_url` is reached at (`None`: it has none,
    /// and its web side is not served).
    pub web_host: Option<String>,
}

impl Account {
    /// Builds account `settings.name` on `stores` (the deployment's store:
    /// the account's scope of it is opened here).
    pub fn build(
        settings: AccountSettings,
        origin: Origin,
        config: &Config,
        stores: &Stores,
        outbound: &OutboundSlot,
        switches: &Arc<AccountSwitches>,
    ) -> anyhow::Result<Account> {
        let name = settings.name.clone();
        let stores = stores
            .for_account(&name)
            .with_context(|| format!("account {name}: opening its store scope"))?;
        let w = &settings.wechat;
        let authorized = settings.authorized.clone();
        let wechat = if w.app_secret.is_empty() && authorized.is_none() {
            None
        } else {
            let options = ApiOptions {
                account: Arc::from(name.as_str()),
                authorizer: authorized.as_ref().map(|a| a.grant.clone()),
                permission_sets: authorized.as_ref().map(|a| a.func_info.clone()),
                client: authorized.as_ref().map(|a| a.client.clone()),
                ..ApiOptions::default()
            };
            let api = Wechat::with_options(w, &stores, options)
                .with_context(|| format!("account {name}: setting up the WeChat API client"))?;
            Some(Arc::new(api))
        };
        let origin_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| config.public_origin());
        let web_host = settings.public_url.as_deref().and_then(web_host);
        let jssdk = match &wechat {
            Some(api) => Some(Arc::new(
                JsSdk::new(&w.app_id, &origin_url, api.jsapi_ticket())
                    .with_context(|| format!("account {name}: web.public_url"))?,
            )),
            None => None,
        };
        let callback = Callback::new(CallbackSettings {
            token: w.token.clone(),
            // An authorized account's pushes are encrypted for the
            // platform's component app id (WXBizMsgCrypt's receiveId).
            app_id: authorized
                .as_ref()
                .map_or_else(|| w.app_id.clone(), |a| a.component_app_id.clone()),
            // An empty key means "none": `Callback::new` says so.
            encoding_aes_key: Some(w.encoding_aes_key.clone()),
            previous_encoding_aes_key: w.previous_encoding_aes_key.clone(),
            require_encryption: settings.require_encryption,
            timestamp_window_secs: config.server.timestamp_window_secs,
            max_body_bytes: config.server.body_limit_bytes,
        })
        .with_context(|| format!("account {name}: encoding_aes_key"))?;
        let name: Arc<str> = Arc::from(name.as_str());
        let app_id: Arc<str> = Arc::from(w.app_id.as_str());
        let plugins = Arc::new(AccountScope {
            name: name.clone(),
            app_id: app_id.clone(),
            services: HostServices {
                kv: stores.kv.clone(),
                wechat: wechat.clone().map(|w| w as Arc<dyn PluginApi>),
                jssdk: jssdk.clone(),
                outbound: outbound.clone(),
            },
            plugins: settings.plugins.clone(),
            grants: grants(&settings, config, origin)?,
            switches: switches.clone(),
        });
        Ok(Account {
            name,
            app_id,
            callback,
            wechat,
            jssdk,
            stores,
            plugins,
            settings,
            origin,
            version: 0,
            web_origin: Arc::from(origin_url.as_str()),
            web_host,
        })
    }

    pub fn is_default(&self) -> bool {
        &*self.name == DEFAULT_ACCOUNT
    }
}

/// Its `[account.<name>.plugin.<id>]` overrides merged over `[plugin.<id>]`.
/// Its own secrets are read here: one that cannot be read (or any, on an
/// account added at runtime) refuses the account, naming it.
fn grants(
    settings: &AccountSettings,
    config: &Config,
    origin: Origin,
) -> anyhow::Result<BTreeMap<String, AccountGrants>> {
    settings
        .plugin
        .iter()
        .map(|(id, o)| {
            let name = &settings.name;
            let secrets = match (o.secrets.is_empty(), origin) {
                (true, _) => None,
                (false, Origin::Runtime) => anyhow::bail!(
                    "account {name}: plugin {id}: secrets come from the config file only"
                ),
                (false, Origin::Config) => {
                    let mut merged = config
                        .plugin
                        .get(id)
                        .map(|p| p.secrets.clone())
                        .unwrap_or_default();
                    merged.extend(o.secrets.clone());
                    let read = Secrets::read(&merged)
                        .map_err(|e| anyhow::anyhow!("account {name}: plugin {id}: {e}"))?;
                    Some(read)
                }
            };
            let config_values = (!o.config.is_empty()).then(|| {
                let mut merged = config
                    .plugin
                    .get(id)
                    .map(|p| p.config.clone())
                    .unwrap_or_default();
                merged.extend(o.config.clone());
                Arc::new(merged)
            });
            let g = AccountGrants {
                priority: o.priority,
                capabilities: o.capabilities.clone().map(Arc::new),
                config: config_values,
                secrets,
                http_hosts: o.http_hosts.clone().map(Arc::from),
                kv_max_bytes: o.kv_max_bytes,
                kv_max_keys: o.kv_max_keys,
            };
            Ok((id.clone(), g))
        })
        .collect()
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("app_id", &self.app_id)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The accounts served now, looked up by name or app id; with the
/// configuration and store they are built from (runtime accounts are built
/// later, on any instance).
pub struct Accounts {
    current: ArcSwap<Registry>,
    config: Arc<Config>,
    /// The deployment's store (the default account's scope).
    stores: Stores,
    /// Seals runtime accounts' credentials; `None`: they are refused.
    key: Option<SecretsKey>,
    /// One sync at a time (an API change and the watcher).
    sync_lock: tokio::sync::Mutex<()>,
    /// Runtime accounts that could not be built, with the version that
    /// failed (retried when it changes).
    failed: std::sync::Mutex<HashMap<String, i64>>,
    /// The outbound queue every account's plugins use, once opened.
    outbound: OutboundSlot,
    /// The Open Platform component, when configured: the accounts that
    /// authorized it are served with its crypto and tokens.
    open: Option<Arc<crate::open::Platform>>,
    /// Plugins switched off for one account, shared by every account.
    switches: Arc<AccountSwitches>,
}

#[derive(Default)]
struct Registry {
    by_name: BTreeMap<Arc<str>, Arc<Account>>,
    by_app_id: HashMap<Arc<str>, Arc<Account>>,
    /// Accounts with their own `public_url`, by its host.
    by_web_host: HashMap<String, Arc<Account>>,
}

impl Registry {
    fn of(accounts: impl IntoIterator<Item = Arc<Account>>) -> Registry {
        let mut r = Registry::default();
        for a in accounts {
            r.insert(a);
        }
        r
    }

    fn insert(&mut self, a: Arc<Account>) {
        self.by_app_id.insert(a.app_id.clone(), a.clone());
        if let Some(host) = &a.web_host {
            // The config and the API refuse a host that is taken; the
            // first account (by name) keeps it should two ever meet here.
            self.by_web_host
                .entry(host.clone())
                .or_insert_with(|| a.clone());
        }
        self.by_name.insert(a.name.clone(), a);
    }
}

impl Accounts {
    /// Every account of the configuration (`[wechat]` and `[account.*]`)
    /// on `stores`; runtime accounts join with [`Accounts::sync`]. `key`
    /// seals their credentials ([`SecretsKey::from_config`]).
    pub fn from_config(
        config: &Config,
        stores: &Stores,
        key: Option<SecretsKey>,
    ) -> anyhow::Result<Accounts> {
        let outbound = OutboundSlot::default();
        let switches = Arc::new(AccountSwitches::default());
        let accounts = config
            .accounts()
            .into_iter()
            .map(|s| {
                Account::build(s, Origin::Config, config, stores, &outbound, &switches)
                    .map(Arc::new)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Accounts {
            current: ArcSwap::from_pointee(Registry::of(accounts)),
            config: Arc::new(config.clone()),
            stores: stores.clone(),
            key,
            sync_lock: tokio::sync::Mutex::new(()),
            failed: Default::default(),
            outbound,
            open: crate::open::Platform::from_config(config, stores)?,
            switches,
        })
    }

    /// The Open Platform component, when `[open_platform]` is configured.
    pub fn open_platform(&self) -> Option<&Arc<crate::open::Platform>> {
        self.open.as_ref()
    }

    /// The plugins switched off per account (the runtime keeps them in
    /// step with the store: `Runtime::use_account_switches`).
    pub fn switches(&self) -> &Arc<AccountSwitches> {
        &self.switches
    }

    /// Where every account's plugins find the outbound queue: the service
    /// sets it once it has opened the queue.
    pub fn outbound_slot(&self) -> &OutboundSlot {
        &self.outbound
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<Account>> {
        self.current.load().by_name.get(name).cloned()
    }

    pub fn by_app_id(&self, app_id: &str) -> Option<Arc<Account>> {
        self.current.load().by_app_id.get(app_id).cloned()
    }

    /// The account whose own `public_url` is on `host` (a request's `Host`
    /// header, any case; a scheme's default port may be given or not).
    pub fn by_web_host(&self, host: &str) -> Option<Arc<Account>> {
        let r = self.current.load();
        if r.by_web_host.is_empty() {
            return None;
        }
        let host = host.to_ascii_lowercase();
        let bare = host
            .strip_suffix(":443")
            .or_else(|| host.strip_suffix(":80"))
            .unwrap_or(&host);
        r.by_web_host
            .get(bare)
            .or_else(|| r.by_web_host.get(&host))
            .cloned()
    }

    /// The `default` account (`[wechat]`), always present.
    pub fn default_account(&self) -> Arc<Account> {
        self.by_name(DEFAULT_ACCOUNT)
            .expect("the default account is never removed")
    }

    /// Every account, by name.
    pub fn all(&self) -> Vec<Arc<Account>> {
        self.current.load().by_name.values().cloned().collect()
    }

    /// Serves exactly `accounts` from now on (the config's and the
    /// runtime ones); the default account stays, whatever the list says.
    fn replace(&self, accounts: Vec<Arc<Account>>) {
        let keep_default = self.by_name(DEFAULT_ACCOUNT);
        let mut r = Registry::of(accounts);
        if let Some(d) = keep_default
            && !r.by_name.contains_key(DEFAULT_ACCOUNT)
        {
            r.insert(d);
        }
        self.current.store(Arc::new(r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_toml(
            "t.toml",
            r#"
            [wechat]
            app_secret = "default-secret"
            [account.shop]
            app_id = "wxshop"
            token = "shoptoken"
            app_secret = "shop-secret"
            plugins = ["echo", "fixture"]
            [plugin.fixture.config]
            greeting = "hi"
            colour = "blue"
            [account.shop.plugin.fixture]
            priority = 9
            capabilities = ["qrcode"]
            [account.shop.plugin.fixture.config]
            colour = "red"
            "#,
            &[],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn accounts_are_found_by_name_and_app_id_each_with_its_own_scope() {
        let config = config();
        let stores = Stores::in_memory().unwrap();
        let accounts = Accounts::from_config(&config, &stores, None).unwrap();
        let shop = accounts.by_app_id("wxshop").unwrap();
        assert_eq!(&*shop.name, "shop");
        assert_eq!(
            &*accounts.by_name("default").unwrap().app_id,
            config.wechat.app_id
        );
        assert!(accounts.by_app_id("wxnope").is_none());
        assert!(shop.plugins.serves("echo") && !shop.plugins.serves("member"));
        let g = &shop.plugins.grants["fixture"];
        assert_eq!(g.priority, Some(9));
        let merged = g.config.as_ref().unwrap();
        assert_eq!(merged["colour"], "red");
        assert_eq!(merged["greeting"], "hi");
        // Own kv scope.
        let quota = crate::store::KvQuota::DEFAULT;
        shop.stores.kv.set("p", "k", b"v", quota).await.unwrap();
        let default = accounts.default_account();
        assert_eq!(default.stores.kv.get("p", "k").await.unwrap(), None);
        assert!(default.plugins.serves("member"));
        let debug = format!("{:?} {:?}", shop, shop.settings);
        assert!(!debug.contains("shop-secret") && !debug.contains("shoptoken"));
    }

    #[tokio::test]
    async fn a_replaced_registry_keeps_the_default_account() {
        let config = config();
        let stores = Stores::in_memory().unwrap();
        let accounts = Accounts::from_config(&config, &stores, None).unwrap();
        accounts.replace(vec![]);
        assert!(accounts.by_name("shop").is_none());
        assert_eq!(&*accounts.default_account().name, "default");
    }

    #[tokio::test]
    async fn an_account_reads_its_own_secrets_over_the_plugins_and_a_missing_one_refuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let (shared, own) = (dir.path().join("shared"), dir.path().join("own"));
        std::fs::write(&shared, "sk-shared\n").unwrap();
        std::fs::write(&own, "sk-shop").unwrap();
        let toml = |own: &std::path::Path| {
            format!(
                r#"
                [account.shop]
                app_id = "wxshop"
                token = "shoptoken"
                [plugin.fixture.secrets]
                api_key = "file:{}"
                other = "file:{}"
                [account.shop.plugin.fixture.secrets]
                api_key = "file:{}"
                "#,
                shared.display(),
                shared.display(),
                own.display()
            )
        };
        let config = Config::from_toml("t.toml", &toml(&own), &[]).unwrap();
        let stores = Stores::in_memory().unwrap();
        let accounts = Accounts::from_config(&config, &stores, None).unwrap();
        let shop = accounts.by_name("shop").unwrap();
        let secrets = shop.plugins.grants["fixture"].secrets.clone().unwrap();
        assert_eq!(secrets.get("api_key"), Some("sk-shop"));
        assert_eq!(secrets.get("other"), Some("sk-shared"));
        assert!(!format!("{shop:?} {:?}", shop.plugins.grants).contains("sk-"));

        let missing = dir.path().join("missing");
        let config = Config::from_toml("t.toml", &toml(&missing), &[]).unwrap();
        let Err(e) = Accounts::from_config(&config, &stores, None) else {
            panic!("an account whose secret is missing was built");
        };
        let e = format!("{e:#}");
        assert!(
            e.contains("account shop") && e.contains("`api_key`") && e.contains("missing"),
            "{e}"
        );
    }
}
