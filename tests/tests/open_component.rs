//! The Open Platform component's credentials in process, against the fake
//! WeChat: the component_access_token needs the pushed ticket (none: WeChat
//! is asked to push one and the error says so), survives a restart through
//! the store, surfaces 61004/61005/61006 with what to do, and is replaced
//! once when WeChat rejects it.

use std::sync::Arc;

use wxhost::api::ApiError;
use wxhost::config::Config;
use wxhost::open::Platform;
use wxhost::open::authorize::LinkRequest;
use wxhost::store::Stores;
use wxhost_tests::fake_open::{
    COMPONENT_AES_KEY, COMPONENT_APP_ID, COMPONENT_SECRET, COMPONENT_TOKEN, paths,
};
use wxhost_tests::fake_wechat::FakeWechat;

const SECRETS_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn platform(fake: &FakeWechat, stores: &Stores) -> Arc<Platform> {
    let toml = format!(
        "[open_platform]\ncomponent_app_id = \"{COMPONENT_APP_ID}\"\ntoken = \"{COMPONENT_TOKEN}\"\n"
    );
    let env: Vec<(String, String)> = [
        ("WXHOST_API_BASE_URL", fake.base_url()),
        ("WXHOST_COMPONENT_APP_SECRET", COMPONENT_SECRET.into()),
        (
            "WXHOST_COMPONENT_ENCODING_AES_KEY",
            COMPONENT_AES_KEY.into(),
        ),
        ("WXHOST_SECRETS_KEY", SECRETS_KEY.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_toml("t", &toml, &env).unwrap();
    Platform::from_config(&config, stores).unwrap().unwrap()
}

fn code_of(e: &ApiError) -> i64 {
    match e {
        ApiError::Wechat { code, .. } => *code,
        _ => 0,
    }
}

#[tokio::test]
async fn the_platform_token_needs_the_pushed_ticket_and_says_what_is_wrong() {
    let fake = FakeWechat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::sqlite(dir.path()).unwrap();
    let p = platform(&fake, &stores);

    // No ticket yet: WeChat is asked to push one, and the error says so.
    let e = p.component_token().get().await.unwrap_err();
    assert!(e.to_string().contains("component_verify_ticket"), "{e}");
    assert_eq!(fake.calls(paths::START_PUSH_TICKET), 1);
    assert_eq!(fake.calls(paths::COMPONENT_TOKEN), 0);

    // The pushed ticket (as /open/notify keeps it) gives the token.
    let now = wxhost::unix_now() as i64;
    wxhost::open::ticket::save(
        &*stores.tokens,
        COMPONENT_APP_ID,
        &fake.open_issue_ticket(),
        now,
    )
    .await
    .unwrap();
    p.component_token().clear_backoff();
    let token = p.component_token().get().await.unwrap();
    assert_eq!(Some(token.clone()), fake.open_component_token());

    // Another process on the same store (a restart) reuses it.
    let again = platform(&fake, &Stores::sqlite(dir.path()).unwrap());
    assert_eq!(again.component_token().get().await.unwrap(), token);
    assert_eq!(fake.calls(paths::COMPONENT_TOKEN), 1);

    // 61005, 61006, 61004: surfaced with what to do.
    fake.open_expire_tickets();
    let e = p.component_token().refresh(false).await.unwrap_err();
    assert_eq!(code_of(&e), 61005, "{e}");
    assert!(e.to_string().contains("/open/notify"), "{e}");
    wxhost::open::ticket::save(
        &*stores.tokens,
        COMPONENT_APP_ID,
        "ticket@@@forged",
        now + 1,
    )
    .await
    .unwrap();
    let e = p.component_token().refresh(false).await.unwrap_err();
    assert_eq!(code_of(&e), 61006, "{e}");
    fake.fail_next(paths::COMPONENT_TOKEN, 61004, 1);
    let e = p.component_token().refresh(false).await.unwrap_err();
    assert_eq!(code_of(&e), 61004, "{e}");
    assert!(e.to_string().contains("IP whitelist"), "{e}");
    // The last good token is still served meanwhile.
    assert_eq!(p.component_token().get().await.unwrap(), token);
}

#[tokio::test]
async fn a_rejected_platform_token_is_replaced_once() {
    let fake = FakeWechat::start().await;
    let stores = Stores::in_memory().unwrap();
    let p = platform(&fake, &stores);
    let now = wxhost::unix_now() as i64;
    wxhost::open::ticket::save(
        &*stores.tokens,
        COMPONENT_APP_ID,
        &fake.open_issue_ticket(),
        now,
    )
    .await
    .unwrap();
    let link = p.authorization_link(&LinkRequest::default()).await.unwrap();
    assert!(link.contains("pre_auth_code="), "{link}");
    assert_eq!(fake.calls(paths::COMPONENT_TOKEN), 1);

    // 40001 once: a new token, the call retried.
    fake.fail_next(paths::PRE_AUTH_CODE, 40001, 1);
    p.authorization_link(&LinkRequest::default()).await.unwrap();
    assert_eq!(fake.calls(paths::COMPONENT_TOKEN), 2);
    assert_eq!(fake.calls(paths::PRE_AUTH_CODE), 3);
    // Twice in a row: surfaced, not looped on.
    fake.fail_next(paths::PRE_AUTH_CODE, 40001, 2);
    let e = p
        .authorization_link(&LinkRequest::default())
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), 40001, "{e}");
    assert_eq!(fake.calls(paths::COMPONENT_TOKEN), 3);
    // A bad request is refused before WeChat is called.
    let calls = fake.calls(paths::PRE_AUTH_CODE);
    let bad = LinkRequest {
        auth_type: Some(9),
        ..LinkRequest::default()
    };
    assert!(matches!(
        p.authorization_link(&bad).await,
        Err(ApiError::Invalid(_))
    ));
    assert_eq!(fake.calls(paths::PRE_AUTH_CODE), calls);
}
