//! Account scopes: one backend holds every account's data, each account in
//! a scope of its own that no query of another account can reach.
//!
//! - SQLite: the `default` account is `<data_dir>/wxhost.db`, as before
//!   accounts existed; account `<name>` has its own database,
//!   `<data_dir>/accounts/<name>/wxhost.db`, with the same schema.
//! - Redis: the `default` account's keys are `<key_prefix>…`, as before;
//!   account `<name>`'s are `<key_prefix>@<name>:…`.
//!
//! So a data dir or key prefix written before accounts existed *is* the
//! default account's, with nothing to migrate, and isolation holds by
//! construction for every store (kv, tokens, menus, QR codes and their
//! quota, scene counters, sessions, web users, audit, plugin switches, the
//! push ledger): no query carries an account filter that could be
//! forgotten. Each scope is opened once and kept, so every part of the
//! host acting for one account shares one connection to it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use super::redis::RedisStore;
use super::sqlite::SqliteStore;
use super::{StoreError, Stores};

/// The account whose scope is the store as it was before accounts.
pub const DEFAULT_ACCOUNT: &str = "default";

/// Whether `name` may name an account: 1 to 32 of `a-z`, `0-9`, `-`, `_`,
/// starting with a letter or digit (it becomes a directory and a key
/// segment, so nothing else is allowed).
pub fn valid_account_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// Where the other accounts' scopes of one backend are.
pub(crate) enum Scopes {
    Sqlite(PathBuf),
    Redis(Arc<RedisStore>),
    /// Private in-memory stores (tests): each account its own.
    Memory,
}

/// The scopes of one backend, each opened at most once.
pub(crate) struct AccountScopes {
    scopes: Scopes,
    opened: Mutex<HashMap<String, Stores>>,
}

impl AccountScopes {
    pub fn new(scopes: Scopes) -> Arc<AccountScopes> {
        Arc::new(AccountScopes {
            scopes,
            opened: Mutex::new(HashMap::new()),
        })
    }

    /// Account `name`'s stores (never the default account's: [`Stores`]
    /// answers that itself).
    pub fn open(&self, name: &str) -> Result<Stores, StoreError> {
        if !valid_account_name(name) || name == DEFAULT_ACCOUNT {
            return Err(StoreError::Invalid(format!(
                "`{name}` is not an account name (1 to 32 of a-z, 0-9, - and _)"
            )));
        }
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = opened.get(name) {
            return Ok(s.clone());
        }
        let stores = match &self.scopes {
            // Opened on first use: a deployment of many accounts starts
            // without a database open (or created) for each.
            Scopes::Sqlite(data_dir) => {
                let dir = data_dir.join("accounts").join(name);
                Stores::of(Arc::new(SqliteStore::open_lazy(&dir)), None)
            }
            Scopes::Redis(redis) => Stores::shared(Arc::new(redis.for_account(name)), None),
            Scopes::Memory => Stores::of(Arc::new(SqliteStore::open_in_memory()?), None),
        };
        opened.insert(name.to_owned(), stores.clone());
        Ok(stores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_safe_as_directories_and_key_segments() {
        for ok in ["default", "shop", "a", "test-2", "x_y", "0abc"] {
            assert!(valid_account_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Shop",
            "../x",
            "a/b",
            "a:b",
            "-x",
            "_x",
            "a b",
            "é",
            &"a".repeat(33),
        ] {
            assert!(!valid_account_name(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn each_account_has_its_own_kv_and_menus_and_the_default_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let default = Stores::sqlite(dir.path()).unwrap();
        let shop = default.for_account("shop").unwrap();
        let quota = crate::store::KvQuota::DEFAULT;
        default.kv.set("p", "k", b"default", quota).await.unwrap();
        assert_eq!(shop.kv.get("p", "k").await.unwrap(), None);
        shop.kv.set("p", "k", b"shop", quota).await.unwrap();
        assert_eq!(
            default.kv.get("p", "k").await.unwrap().as_deref(),
            Some(&b"default"[..])
        );
        shop.menus.insert("{}", Some("shop's")).await.unwrap();
        assert!(default.menus.history().await.unwrap().is_empty());
        // The same scope again is the same store.
        let again = default.for_account("shop").unwrap();
        assert_eq!(
            again.kv.get("p", "k").await.unwrap().as_deref(),
            Some(&b"shop"[..])
        );
        assert!(dir.path().join("wxhost.db").exists());
        assert!(dir.path().join("accounts/shop/wxhost.db").exists());
        // A scope nobody used is not even created.
        let unused = default.for_account("unused").unwrap();
        assert!(!dir.path().join("accounts/unused").exists());
        assert_eq!(unused.kv.get("p", "k").await.unwrap(), None);
        assert!(dir.path().join("accounts/unused/wxhost.db").exists());
        assert!(default.for_account("../x").is_err());
        assert!(
            default
                .for_account(DEFAULT_ACCOUNT)
                .unwrap()
                .kv
                .get("p", "k")
                .await
                .unwrap()
                .is_some()
        );
    }
}
