//! Upgrading loses nothing: `tests/fixtures/store-0bab7f1/wxhost.db` was
//! written by the single-account release (its `make.sh` drove that
//! release's commands and server against the fake WeChat). Opened by this
//! build, every store reads back unchanged as the `default` account's, and
//! another account sees none of it.

use std::path::Path;

use wxhost::account::Accounts;
use wxhost::store::{KvQuota, Stores};
use wxhost_tests::fake_wechat::{APP_ID, OAUTH_OPENID};

/// A private copy of the fixture's data dir (the test must not change it).
fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let db = Path::new(&manifest).join("fixtures/store-0bab7f1/wxhost.db");
    std::fs::copy(&db, dir.path().join("wxhost.db")).expect("fixture database");
    dir
}

/// Everything the old release wrote, read through `stores`.
async fn assert_old_data(stores: &Stores) {
    let kv = |k: &'static str| async move {
        stores
            .kv
            .get("fixture", k)
            .await
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    };
    assert_eq!(kv("colour").await.as_deref(), Some("red"));
    assert_eq!(kv("visits").await.as_deref(), Some("2"));

    let token = stores
        .tokens
        .get(APP_ID)
        .await
        .unwrap()
        .expect("the access_token");
    assert!(token.token.starts_with("stable-token-"), "{token:?}");

    let history = stores.menus.history().await.unwrap();
    let notes: Vec<Option<&str>> = history.iter().map(|v| v.note.as_deref()).collect();
    assert_eq!(notes, [Some("second menu"), Some("first menu")]);
    let current = stores
        .menus
        .current()
        .await
        .unwrap()
        .expect("a current menu");
    assert!(current.json.contains("HELP"), "{}", current.json);

    let codes = stores.qrcodes.list(10).await.unwrap();
    let notes: Vec<Option<&str>> = codes.iter().map(|c| c.code.note.as_deref()).collect();
    assert_eq!(notes, [Some("shop door"), Some("spring campaign")]);
    assert_eq!(stores.qrcodes.permanent_count().await.unwrap(), 1);
    assert!(
        stores
            .qrcodes
            .permanent_by_scene("7")
            .await
            .unwrap()
            .is_some()
    );
    let counts = stores
        .scene_stats
        .counts(&["spring".to_owned()])
        .await
        .unwrap();
    assert_eq!(counts["spring"].scans, 1);

    let sessions = stores.sessions.export().await.unwrap();
    assert!(
        sessions.iter().any(|s| s.realm == "web-session"),
        "{:?}",
        sessions.iter().map(|s| &s.realm).collect::<Vec<_>>()
    );
    let user = stores.web_users.get(OAUTH_OPENID).await.unwrap();
    assert!(user.is_some(), "the web user");

    let audit = stores.audit.recent(50).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"token_refresh"), "{actions:?}");
    assert!(actions.contains(&"plugin_disable"), "{actions:?}");
    assert_eq!(stores.plugin_switches.disabled().await.unwrap(), ["member"]);
}

#[tokio::test]
async fn a_data_dir_of_the_single_account_release_is_the_default_accounts_with_nothing_lost() {
    let dir = fixture_copy();
    let stores = Stores::sqlite(dir.path()).unwrap();
    assert_old_data(&stores).await;

    // Through the account registry: the default account's scope is that data.
    let config = wxhost::config::Config::from_toml(
        "upgrade",
        "[account.shop]\napp_id = \"wxshop0000000001\"\ntoken = \"shoptoken\"\n",
        &[],
    )
    .unwrap();
    let accounts = Accounts::from_config(&config, &stores, None).unwrap();
    assert_old_data(&accounts.default_account().stores).await;
    // Another account starts empty, and writing to it changes nothing of
    // the default's.
    let shop = accounts.by_name("shop").unwrap();
    assert_eq!(shop.stores.kv.get("fixture", "colour").await.unwrap(), None);
    assert!(shop.stores.menus.history().await.unwrap().is_empty());
    assert!(shop.stores.qrcodes.list(10).await.unwrap().is_empty());
    assert!(shop.stores.audit.recent(10).await.unwrap().is_empty());
    assert!(
        shop.stores
            .plugin_switches
            .disabled()
            .await
            .unwrap()
            .is_empty()
    );
    shop.stores
        .kv
        .set("fixture", "colour", b"blue", KvQuota::DEFAULT)
        .await
        .unwrap();
    drop(accounts);
    drop(stores);

    // Opened again (a restart): still all there.
    let stores = Stores::sqlite(dir.path()).unwrap();
    assert_old_data(&stores).await;
}
