//! Plugin calls act for the account they serve: each account's kv, its
//! plugin set and priorities, its config overrides, and an instance reused
//! across calls (`reuse_calls`) never carries one account's globals into
//! another account's call.

mod plugin_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use plugin_support::{deadline, env, settings, text};
use wxhost::config::PluginSettings;
use wxhost::plugin::{AccountGrants, AccountScope, HandlerInput, HostServices, PluginOutcome};
use wxhost::protocol::Reply;
use wxhost::store::Stores;

fn account(
    name: &str,
    plugins: Option<&[&str]>,
    grants: BTreeMap<String, AccountGrants>,
) -> AccountScope {
    AccountScope {
        name: Arc::from(name),
        app_id: Arc::from(format!("wx{name}").as_str()),
        services: HostServices {
            kv: Stores::in_memory().unwrap().kv,
            wechat: None,
            jssdk: None,
            outbound: Default::default(),
        },
        plugins: plugins.map(|p| p.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>()),
        grants,
        switches: Default::default(),
    }
}

fn text_of(o: Option<(String, PluginOutcome)>) -> (String, String) {
    match o {
        Some((id, PluginOutcome::Reply(Reply::Text(t)))) => (id, t),
        other => panic!("expected a text reply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_call_acts_for_its_account_with_its_kv_plugins_and_instances() {
    let reuse = PluginSettings {
        reuse_calls: Some(10),
        priority: Some(10),
        ..Default::default()
    };
    let e = env(settings(&[("fixture", reuse)]));
    e.install("fixture", "fixture");
    e.install("echo", "echo");
    e.rt.load_all().await.unwrap();
    let a = account("a", None, BTreeMap::new());
    let b = account("b", None, BTreeMap::new());
    let dispatch = async |acct: &AccountScope, t: &str| {
        text_of(
            e.rt.dispatch_observed(acct, &text(t), None, deadline(), |_| {})
                .await
                .answer,
        )
    };
    // The fixture (priority 10) answers before echo.
    assert_eq!(dispatch(&a, "kv:set:k=for-a").await.1, "set k");
    assert_eq!(dispatch(&b, "kv:get:k").await.1, "no value");
    // Each sees its own account in its context.
    assert!(
        dispatch(&b, "account")
            .await
            .1
            .starts_with("account b wxb ")
    );
    assert_eq!(dispatch(&a, "kv:get:k").await.1, "value for-a");

    // Reused instances (`reuse_calls`): the fixture counts the calls its
    // instance served.
    let fixture = e.rt.get("fixture").unwrap();
    let count = async |acct: &AccountScope| {
        let r = fixture
            .call_as(
                acct,
                &HandlerInput::new(&text("count")).with_account(acct.info()),
                deadline(),
            )
            .await;
        match r.result {
            Ok(PluginOutcome::Reply(Reply::Text(t))) => (t, r.reused),
            other => panic!("{other:?}"),
        }
    };
    // a's instance served a's two calls above, b's served b's two: each
    // goes on counting its own account's calls only.
    assert_eq!(count(&a).await, ("3".to_owned(), true));
    assert_eq!(count(&a).await, ("4".to_owned(), true));
    assert_eq!(count(&b).await, ("3".to_owned(), true));

    // `plugins = ["echo"]`: the fixture never serves c.
    let c = account("c", Some(&["echo"]), BTreeMap::new());
    assert_eq!(
        dispatch(&c, "kv:get:k").await,
        ("echo".to_owned(), "kv:get:k".to_owned())
    );

    // An account's priority override puts echo first for d only.
    let d = account(
        "d",
        None,
        BTreeMap::from([(
            "echo".to_owned(),
            AccountGrants {
                priority: Some(1000),
                ..Default::default()
            },
        )]),
    );
    assert_eq!(dispatch(&d, "kv:get:k").await.0, "echo");
    assert_eq!(dispatch(&a, "kv:get:k").await.0, "fixture");

    // An account's own kv quota for the fixture: one key in q's scope,
    // while a (the plugin's default quota) takes more.
    let q = account(
        "q",
        None,
        BTreeMap::from([(
            "fixture".to_owned(),
            AccountGrants {
                kv_max_keys: Some(1),
                ..Default::default()
            },
        )]),
    );
    assert_eq!(dispatch(&q, "kv:set:one=1").await.1, "set one");
    let refused = dispatch(&q, "kv:set:two=2").await.1;
    assert!(refused.contains("quota"), "{refused}");
    assert_eq!(dispatch(&a, "kv:set:two=2").await.1, "set two");
}
