//! Plugins an operator switched off for one account only (the console or
//! `POST /api/v1/plugins/<id>/disable?account=NAME`): the plugin stays
//! loaded and serves the other accounts; [`AccountScope::serves`]
//! (`account_scope.rs`) leaves it out for that account — messages, pages
//! and schedules alike.
//!
//! They are kept beside the deployment-wide switches, in the same
//! [`PluginSwitchStore`](crate::store::PluginSwitchStore) of the
//! deployment's store, under `@<account>/<plugin>`: every instance already
//! reads that set every [`SYNC_EVERY`](super::published::SYNC_EVERY), so an
//! account's switch reaches every instance in the same round, with no
//! second poll per account (a deployment may have thousands). A host that
//! predates them reads such an id as a plugin that does not exist, and
//! ignores it.

use std::collections::{BTreeMap, BTreeSet};

use arc_swap::ArcSwap;

/// Every account's switched-off plugins (shared by every `AccountScope`).
#[derive(Default)]
pub struct AccountSwitches {
    off: ArcSwap<BTreeMap<String, BTreeSet<String>>>,
}

impl AccountSwitches {
    /// The store id of `plugin` switched off for `account`.
    pub fn key(account: &str, plugin: &str) -> String {
        format!("@{account}/{plugin}")
    }

    /// `(account, plugin)` of a store id made by [`AccountSwitches::key`].
    pub fn parse(key: &str) -> Option<(&str, &str)> {
        key.strip_prefix('@')?.split_once('/')
    }

    /// Whether `plugin` is switched off for `account`.
    pub fn is_off(&self, account: &str, plugin: &str) -> bool {
        let off = self.off.load();
        !off.is_empty() && off.get(account).is_some_and(|s| s.contains(plugin))
    }

    /// The plugins switched off for `account`.
    pub fn off_for(&self, account: &str) -> Vec<String> {
        self.off
            .load()
            .get(account)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Takes the store's per-account ids (those [`AccountSwitches::parse`]
    /// reads) as the whole set.
    pub fn replace<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut off: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (account, plugin) in keys.into_iter().filter_map(AccountSwitches::parse) {
            off.entry(account.to_owned())
                .or_default()
                .insert(plugin.to_owned());
        }
        self.off.store(off.into());
    }

    /// Records one switch here at once (the store has it already).
    pub fn set(&self, account: &str, plugin: &str, enabled: bool) {
        self.off.rcu(|cur| {
            let mut next = (**cur).clone();
            let set = next.entry(account.to_owned()).or_default();
            if enabled {
                set.remove(plugin);
            } else {
                set.insert(plugin.to_owned());
            }
            next.retain(|_, s| !s.is_empty());
            next
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_only_the_named_account_is_affected() {
        let k = AccountSwitches::key("shop", "echo");
        assert_eq!(AccountSwitches::parse(&k), Some(("shop", "echo")));
        assert_eq!(AccountSwitches::parse("echo"), None);
        let s = AccountSwitches::default();
        s.replace(["echo", k.as_str()]);
        assert!(s.is_off("shop", "echo"));
        assert!(!s.is_off("default", "echo") && !s.is_off("shop", "menu"));
        s.set("shop", "echo", true);
        assert!(!s.is_off("shop", "echo"));
        s.set("club", "menu", false);
        assert_eq!(s.off_for("club"), vec!["menu".to_owned()]);
    }
}
