//! The jsapi_ticket against the fake WeChat API: a second credential,
//! managed like the access_token — persisted and shared by processes on one
//! store, refreshed ahead of expiry, and fetched again with a new
//! access_token when WeChat rejects the token (40001, 42001), once.

use std::sync::Arc;
use std::time::Duration;

use wxhost::api::ApiOptions;
use wxhost::api::jssdk::{JsSdk, JsSdkError, signature};
use wxhost::store::Stores;
use wxhost_tests::fake_wechat::{APP_ID, FakeWechat, fast_options, paths};

#[tokio::test]
async fn processes_sharing_a_store_fetch_the_ticket_once_and_keep_it_apart_from_the_token() {
    let fake = FakeWechat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let w = Arc::new(fake.wechat(Stores::sqlite(dir.path()).unwrap()));
        w.jsapi_ticket().get().await.unwrap()
    };
    // Another process (a restart) on the same data dir.
    let w = Arc::new(fake.wechat(Stores::sqlite(dir.path()).unwrap()));
    let ticket = w.jsapi_ticket();
    assert_eq!(ticket.get().await.unwrap(), first);
    assert_eq!(fake.calls(paths::GET_TICKET), 1);
    assert_eq!(fake.token_fetches(), 1);
    assert_eq!(Some(first), fake.jsapi_ticket());
    // Stored under its own key: the token's status is untouched.
    assert_eq!(ticket.status().await.unwrap().fetches_today, 1);
    assert_ne!(
        ticket.status().await.unwrap().fingerprint,
        w.tokens().status().await.unwrap().fingerprint
    );
}

#[tokio::test]
async fn a_rejected_access_token_is_replaced_and_the_ticket_fetched_once_more() {
    let fake = FakeWechat::start().await;
    for code in [40001, 42001] {
        let w = Arc::new(fake.wechat(Stores::in_memory().unwrap()));
        w.tokens().get().await.unwrap();
        fake.reset_counts();
        fake.fail_next(paths::GET_TICKET, code, 1);
        w.jsapi_ticket().get().await.unwrap();
        assert_eq!(fake.calls(paths::GET_TICKET), 2, "{code}: retried once");
        assert_eq!(fake.token_fetches(), 1, "{code}: with a new token");
    }
    let w = Arc::new(fake.wechat(Stores::in_memory().unwrap()));
    // Twice rejected: an error, not a loop.
    fake.reset_counts();
    fake.fail_next(paths::GET_TICKET, 40001, 2);
    assert!(w.jsapi_ticket().get().await.is_err());
    assert_eq!(fake.calls(paths::GET_TICKET), 2);
}

#[tokio::test]
async fn the_ticket_is_refreshed_ahead_of_expiry() {
    let fake = FakeWechat::start().await;
    let options = ApiOptions {
        refresh_margin: Duration::from_secs(7200),
        ..fast_options()
    };
    let w = Arc::new(fake.wechat_with(Stores::in_memory().unwrap(), options, ""));
    let ticket = w.jsapi_ticket();
    ticket.get().await.unwrap();
    // Every ticket lives 7200 s, inside the margin: each use fetches anew.
    ticket.get().await.unwrap();
    assert_eq!(fake.calls(paths::GET_TICKET), 2);
}

#[tokio::test]
async fn jssdk_signs_only_pages_of_its_origin_without_the_fragment() {
    let fake = FakeWechat::start().await;
    let w = Arc::new(fake.wechat(Stores::in_memory().unwrap()));
    let jssdk = JsSdk::new(APP_ID, "https://wx.example.com", w.jsapi_ticket()).unwrap();
    let c = jssdk
        .config("https://wx.example.com/app/member/?x=1#top")
        .await
        .unwrap();
    let ticket = fake.jsapi_ticket().unwrap();
    assert_eq!(
        c.signature,
        signature(
            &ticket,
            &c.nonce_str,
            c.timestamp,
            "https://wx.example.com/app/member/?x=1"
        )
    );
    assert_eq!(c.nonce_str.len(), 16);
    for other in [
        "http://wx.example.com/",
        "https://wx.example.com:8443/",
        "https://evil.example/?https://wx.example.com/",
        "https://wx.example.com.evil.example/",
        "/relative",
    ] {
        assert!(
            matches!(jssdk.config(other).await, Err(JsSdkError::Refused(_))),
            "{other}"
        );
    }
    assert_eq!(fake.calls(paths::GET_TICKET), 1, "refusals fetch nothing");
}
