//! Plugin host functions end to end: a plugin reaches WeChat's APIs only
//! with the capability granted, and never sees the AppSecret or token.

use wxhost::protocol::Push;
use wxhost::protocol::{self, Mode, Reply};
use wxhost_tests::fake_wechat::{APP_SECRET, FakeWechat, paths};
use wxhost_tests::service::Wxhost;

fn text_of(xml: &str) -> String {
    match protocol::parse_reply(xml)
        .unwrap_or_else(|e| panic!("{e}: {xml}"))
        .reply
    {
        Reply::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

#[tokio::test]
async fn a_plugin_without_the_capability_is_refused() {
    let fake = FakeWechat::start().await;
    let base = fake.base_url();
    let host = Wxhost::start(
        &["fixture"],
        "",
        &[
            ("WXHOST_API_BASE_URL", &base),
            ("WXHOST_APP_SECRET", APP_SECRET),
        ],
    )
    .await;
    for (i, call) in ["api:send", "api:user", "api:qrcode:s1"].iter().enumerate() {
        let text = text_of(
            &host
                .push(&Push::Text(call.to_string()), Mode::Safe, 10 + i as u64)
                .await,
        );
        assert!(text.starts_with("refused -2"), "{call}: {text}");
    }
    assert_eq!(
        fake.total_calls(),
        0,
        "no API call may be made for a refused plugin"
    );
}

#[tokio::test]
async fn granted_capabilities_reach_wechat_on_the_plugins_behalf() {
    let fake = FakeWechat::start().await;
    let base = fake.base_url();
    let config = "[plugin.fixture]\ncapabilities = [\"customer-message\", \"qrcode\"]\n";
    let host = Wxhost::start(
        &["fixture"],
        config,
        &[
            ("WXHOST_API_BASE_URL", &base),
            ("WXHOST_APP_SECRET", APP_SECRET),
        ],
    )
    .await;
    assert_eq!(
        text_of(
            &host
                .push(&Push::Text("api:send".into()), Mode::Safe, 1)
                .await
        ),
        "sent"
    );
    let sent = fake.requests(paths::CUSTOM_SEND);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["touser"], "o_test_user");
    assert_eq!(sent[0]["text"]["content"], "pushed by fixture");
    let text = text_of(
        &host
            .push(&Push::Text("api:qrcode:promo".into()), Mode::Safe, 2)
            .await,
    );
    assert!(text.starts_with("qrcode promo http"), "{text}");
    // Granted two, not user-info.
    assert!(
        text_of(
            &host
                .push(&Push::Text("api:user".into()), Mode::Safe, 3)
                .await
        )
        .starts_with("refused -2")
    );
    let log = host.log();
    assert!(!log.contains(APP_SECRET));
    for t in fake.valid_tokens() {
        assert!(!log.contains(&t), "token in log");
    }
}

#[tokio::test]
async fn a_scan_of_a_stored_scene_carries_the_stored_qr_code_to_plugins() {
    let fake = FakeWechat::start().await;
    let base = fake.base_url();
    let config = "[plugin.fixture]\ncapabilities = [\"qrcode\"]\n";
    let host = Wxhost::start(
        &["fixture", "welcome"],
        config,
        &[
            ("WXHOST_API_BASE_URL", &base),
            ("WXHOST_APP_SECRET", APP_SECRET),
        ],
    )
    .await;
    // The fixture creates the code (stored with the note "from fixture").
    assert!(
        text_of(
            &host
                .push(&Push::Text("api:qrcode:spring".into()), Mode::Safe, 1)
                .await
        )
        .starts_with("qrcode spring")
    );
    let scan = text_of(
        &host
            .push(
                &Push::Scan {
                    scene: "spring".into(),
                },
                Mode::Safe,
                0,
            )
            .await,
    );
    assert_eq!(scan, "Welcome! You came from scene spring (from fixture).");
    let follow = text_of(
        &host
            .push(
                &Push::Subscribe {
                    scene: Some("spring".into()),
                },
                Mode::Safe,
                0,
            )
            .await,
    );
    assert_eq!(
        follow,
        "Welcome! You came from scene spring (from fixture)."
    );
    // A scene wxhost never created has no stored record.
    let other = text_of(
        &host
            .push(
                &Push::Scan {
                    scene: "elsewhere".into(),
                },
                Mode::Safe,
                0,
            )
            .await,
    );
    assert_eq!(other, "Welcome! You came from scene elsewhere.");
}
