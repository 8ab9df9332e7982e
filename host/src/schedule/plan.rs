//! What runs where now: every (account, plugin, schedule) the instance
//! serves — a plugin's schedules for each account it serves
//! ([`AccountScope::select`](crate::plugin::AccountScope::select): the
//! account's `plugins = [...]`, switches), the account's own replacing the
//! plugin's. Recomputed each round from the current registries, so hot
//! reloads, switches and accounts added at runtime are followed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use crate::account::{Account, Accounts};
use crate::config::{Config, ConfigError, Schedule, parse_schedules};
use crate::plugin::{LoadedPlugin, Runtime};

/// One schedule of one plugin for one account.
#[derive(Clone)]
pub struct Entry {
    pub account: Arc<Account>,
    pub plugin: Arc<LoadedPlugin>,
    pub schedule: Arc<Schedule>,
}

impl Entry {
    /// Unique on this instance.
    pub fn key(&self) -> String {
        format!("{}/{}", self.account.name, self.store_key())
    }

    /// Unique within the account's store scope.
    pub fn store_key(&self) -> String {
        format!("{}/{}", self.plugin.id(), self.schedule.name)
    }
}

type Parsed = Arc<Vec<Arc<Schedule>>>;

/// The schedules of the config, parsed once; an account's own parsed on
/// first use per version of the account.
pub(super) struct Plans {
    by_plugin: BTreeMap<String, Parsed>,
    by_account: Mutex<HashMap<(String, i64, String), Parsed>>,
    warned: Mutex<HashSet<String>>,
}

impl Plans {
    pub fn from_config(config: &Config) -> Result<Plans, ConfigError> {
        let mut by_plugin = BTreeMap::new();
        for (id, p) in &config.plugin {
            let parsed = parse_schedules(&format!("plugin.{id}.schedules"), &p.schedules)?;
            if !parsed.is_empty() {
                by_plugin.insert(
                    id.clone(),
                    Arc::new(parsed.into_iter().map(Arc::new).collect()),
                );
            }
        }
        Ok(Plans {
            by_plugin,
            by_account: Mutex::new(HashMap::new()),
            warned: Mutex::new(HashSet::new()),
        })
    }

    /// `plugin`'s schedules for `account`.
    fn schedules(&self, account: &Account, plugin: &str) -> Option<Parsed> {
        let own = account
            .settings
            .plugin
            .get(plugin)
            .and_then(|p| p.schedules.as_ref());
        let Some(own) = own else {
            return self.by_plugin.get(plugin).cloned();
        };
        let key = (account.name.to_string(), account.version, plugin.to_owned());
        let mut cache = self
            .by_account
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = cache.get(&key) {
            return Some(p.clone());
        }
        let name = &account.name;
        let parsed: Parsed = match parse_schedules(
            &format!("account.{name}.plugin.{plugin}.schedules"),
            own,
        ) {
            Ok(p) => Arc::new(p.into_iter().map(Arc::new).collect()),
            // Validated when the account was configured or stored; a bad
            // one here runs nothing rather than the plugin's.
            Err(e) => {
                tracing::warn!(account = %name, plugin, error = %e, "account schedules not used");
                Arc::new(Vec::new())
            }
        };
        cache.insert(key, parsed.clone());
        Some(parsed)
    }

    /// Every schedule served now.
    pub fn entries(&self, runtime: &Runtime, accounts: &Accounts) -> Vec<Entry> {
        let plugins = runtime.plugins();
        let mut out = Vec::new();
        for account in accounts.all() {
            for plugin in account.plugins.select(&plugins) {
                let Some(schedules) = self.schedules(&account, plugin.id()) else {
                    continue;
                };
                if schedules.is_empty() {
                    continue;
                }
                if !plugin.runs_schedules() {
                    self.warn_once(&account, &plugin);
                    continue;
                }
                out.extend(schedules.iter().map(|s| Entry {
                    account: account.clone(),
                    plugin: plugin.clone(),
                    schedule: s.clone(),
                }));
            }
        }
        out
    }

    /// An account's schedules for a plugin that cannot run them (the
    /// plugin-wide ones refuse the plugin at load instead).
    fn warn_once(&self, account: &Account, plugin: &LoadedPlugin) {
        let key = format!("{}/{}/{}", account.name, plugin.id(), plugin.sha256());
        if self
            .warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key)
        {
            tracing::warn!(
                account = %account.name,
                plugin = %plugin.id(),
                "account {} lists schedules for plugin {}, which does not export wechat:plugin/schedule: they do not run",
                account.name,
                plugin.id()
            );
        }
    }
}
