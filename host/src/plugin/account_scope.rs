//! [`AccountScope`]: the account a plugin call acts for — its name and app
//! id, the host services that act for it (its kv scope, its WeChat API
//! client, its JS-SDK signer), which plugins serve it and what each is
//! granted there. The engine, pool, compile cache and registry are shared by
//! every account; this travels with each call (into its `CallState`), so a
//! host function can only ever act for the account of the message it
//! serves — there is no global or thread-local account to switch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::account_switches::AccountSwitches;
use super::{AccountInfo, HostServices, LoadedPlugin};
use crate::config::Capability;
use crate::config::secrets::Secrets;

/// One account, as plugin calls see it.
pub struct AccountScope {
    pub name: Arc<str>,
    pub app_id: Arc<str>,
    pub services: HostServices,
    /// `plugins = [...]`: the only plugin ids that serve it; `None`: all.
    pub plugins: Option<BTreeSet<String>>,
    /// Per plugin id, what differs for this account (`[account.<name>.plugin.<id>]`).
    pub grants: BTreeMap<String, AccountGrants>,
    /// Plugins an operator switched off for one account (shared by every
    /// account of the deployment: `account_switches.rs`).
    pub switches: Arc<AccountSwitches>,
}

/// A plugin's settings for one account, already merged over
/// `[plugin.<id>]`; `None` keeps the plugin's own.
#[derive(Debug, Clone, Default)]
pub struct AccountGrants {
    pub priority: Option<i32>,
    pub capabilities: Option<Arc<BTreeSet<Capability>>>,
    pub config: Option<Arc<BTreeMap<String, String>>>,
    /// `[plugin.<id>.secrets]` with this account's own merged over, read.
    pub secrets: Option<Secrets>,
    pub http_hosts: Option<Arc<[String]>>,
    /// `kv_max_bytes` / `kv_max_keys` for this account's kv of the plugin.
    pub kv_max_bytes: Option<u64>,
    pub kv_max_keys: Option<u64>,
}

impl AccountScope {
    /// Its name and AppID, as the plugin sees them (the WIT `account`).
    pub fn info(&self) -> AccountInfo {
        AccountInfo {
            name: self.name.clone(),
            app_id: self.app_id.clone(),
        }
    }

    /// Whether plugin `id` serves this account: listed in its `plugins`
    /// (or no list), and not switched off for it.
    pub fn serves(&self, id: &str) -> bool {
        self.plugins.as_ref().is_none_or(|p| p.contains(id))
            && !self.switches.is_off(&self.name, id)
    }

    /// `plugin`'s priority for this account.
    pub fn priority(&self, plugin: &LoadedPlugin) -> i32 {
        self.grants
            .get(plugin.id())
            .and_then(|g| g.priority)
            .unwrap_or(plugin.priority)
    }

    pub(crate) fn grants(&self, id: &str) -> Option<&AccountGrants> {
        self.grants.get(id)
    }

    /// The plugins of `all` (in registry order: priority, then id) that
    /// serve this account, in this account's priority order.
    pub fn select(&self, all: &[Arc<LoadedPlugin>]) -> Vec<Arc<LoadedPlugin>> {
        let mut chosen: Vec<Arc<LoadedPlugin>> = all
            .iter()
            .filter(|p| self.serves(p.id()))
            .cloned()
            .collect();
        if self.grants.values().any(|g| g.priority.is_some()) {
            // Stable: equal priorities keep the registry's order.
            chosen.sort_by_key(|p| std::cmp::Reverse(self.priority(p)));
        }
        chosen
    }
}

impl std::fmt::Debug for AccountScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountScope")
            .field("name", &self.name)
            .field("app_id", &self.app_id)
            .field("plugins", &self.plugins)
            .finish_non_exhaustive()
    }
}
