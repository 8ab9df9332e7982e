//! The host's cookies in a real browser jar (Chromium through WebDriver):
//! a plugin page can neither set the session cookie by `Set-Cookie` nor
//! write any cookie from its script (its pages are sandboxed), so the
//! visitor stays who they logged in as.

use std::time::Duration;

use fantoccini::{Client, Locator};
use wxhost_tests::fake_wechat::{FakeWechat, OAUTH_OPENID};
use wxhost_tests::service::Wxhost;
use wxhost_tests::webdriver::{browser, start_driver};

async fn openid_shown(c: &Client) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#openid"))
        .await
        .expect("the member page")
        .text()
        .await
        .unwrap()
}

async fn session_cookie(c: &Client) -> String {
    c.get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.name() == "wxhost_session")
        .map(|k| k.value().to_owned())
        .expect("a session cookie")
}

#[tokio::test]
async fn a_plugin_page_cannot_plant_or_replace_the_session_in_a_real_browser() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(
        &fake,
        &["member", "fault-web"],
        "[plugin.fault-web]\ntimeout_ms = 2000\n[plugin.fault-web.web]\nlogin = \"none\"\n",
        &[],
    )
    .await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    let origin = host.origin();

    // Logged in through the (fake) WeChat login.
    c.goto(&format!("{origin}/app/member/")).await.unwrap();
    assert_eq!(openid_shown(&c).await, OAUTH_OPENID);
    let session = session_cookie(&c).await;

    // A page's script runs sandboxed: no cookie access at all.
    c.goto(&format!("{origin}/app/fault-web/ok")).await.unwrap();
    let wrote = c
        .execute(
            "try { document.cookie = 'wxhost%5Fsession=planted; path=/'; \
             document.cookie = '=wxhost_session=planted; path=/'; return 'written'; } \
             catch (e) { return 'refused: ' + e.name; }",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(wrote.as_str(), Some("refused: SecurityError"), "{wrote}");

    // A page's Set-Cookie for the session is dropped; its own passes.
    c.goto(&format!("{origin}/app/fault-web/set-cookie"))
        .await
        .unwrap();
    let cookies = c.get_all_cookies().await.unwrap();
    assert!(cookies.iter().any(|k| k.name() == "theme"), "{cookies:?}");
    assert_eq!(session_cookie(&c).await, session);
    assert!(
        !cookies
            .iter()
            .any(|k| k.name() != "wxhost_session"
                && k.name().to_ascii_lowercase().contains("wxhost")),
        "{cookies:?}"
    );

    // Still the same visitor.
    c.goto(&format!("{origin}/app/member/")).await.unwrap();
    assert_eq!(openid_shown(&c).await, OAUTH_OPENID);
    let _ = c.close().await;
}
