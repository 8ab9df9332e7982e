//! Customer-service messages and user info against the fake WeChat API,
//! through `PluginApi` as the server (late replies) and the plugin runtime
//! (host functions) call them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wxhost::api::{ApiError, CustomerMessage, PluginApi};
use wxhost::protocol::Article;
use wxhost::store::Stores;
use wxhost_tests::fake_wechat::{FakeWechat, paths};

fn api(fake: &FakeWechat) -> Arc<dyn PluginApi> {
    Arc::new(fake.wechat(Stores::in_memory().unwrap()))
}

#[tokio::test]
async fn all_six_message_types_reach_wechat() {
    let fake = FakeWechat::start().await;
    let api = api(&fake);
    let article = Article {
        title: "标题".into(),
        description: "d".into(),
        pic_url: "https://p.example/x.png".into(),
        url: "https://e.example/?a=1&b=2".into(),
    };
    let messages = vec![
        CustomerMessage::Text("你好 & <welcome>".into()),
        CustomerMessage::Image {
            media_id: "img".into(),
        },
        CustomerMessage::Voice {
            media_id: "voice".into(),
        },
        CustomerMessage::Video {
            media_id: "vid".into(),
            thumb_media_id: Some("th".into()),
            title: Some("t".into()),
            description: None,
        },
        CustomerMessage::Music {
            title: Some("song".into()),
            description: None,
            music_url: "http://m/1.mp3".into(),
            hq_music_url: "http://m/1.flac".into(),
            thumb_media_id: "th".into(),
        },
        CustomerMessage::News(vec![article]),
    ];
    for m in messages {
        api.send_customer_message("openid-1", m).await.unwrap();
    }
    let sent = fake.requests(paths::CUSTOM_SEND);
    assert_eq!(
        sent.iter()
            .map(|b| b["msgtype"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["text", "image", "voice", "video", "music", "news"]
    );
    assert!(sent.iter().all(|b| b["touser"] == "openid-1"));
    assert_eq!(sent[0]["text"], json!({"content": "你好 & <welcome>"}));
    assert_eq!(
        sent[3]["video"],
        json!({"media_id": "vid", "thumb_media_id": "th", "title": "t"})
    );
    assert_eq!(
        sent[4]["music"],
        json!({"title": "song", "musicurl": "http://m/1.mp3", "hqmusicurl": "http://m/1.flac", "thumb_media_id": "th"})
    );
    assert_eq!(
        sent[5]["news"]["articles"],
        json!([{"title": "标题", "description": "d", "url": "https://e.example/?a=1&b=2", "picurl": "https://p.example/x.png"}])
    );
}

#[tokio::test]
async fn a_late_reply_arrives_as_a_customer_service_message() {
    // What the server does when a plugin misses the budget: deliver its
    // reply later through PluginApi. Here the send happens on another task
    // and the test waits for it at the fake, without fixed sleeps.
    let fake = FakeWechat::start().await;
    let api = api(&fake);
    let sender = api.clone();
    tokio::spawn(async move {
        sender
            .send_customer_message("late-user", CustomerMessage::Text("sorry I'm late".into()))
            .await
    });
    let body = fake
        .wait_for_request(paths::CUSTOM_SEND, 0, Duration::from_secs(10))
        .await
        .expect("the late reply reached WeChat");
    assert_eq!(
        body,
        json!({"touser": "late-user", "msgtype": "text", "text": {"content": "sorry I'm late"}})
    );

    // Outside the 48-hour window WeChat refuses; the error says so.
    fake.fail_next(paths::CUSTOM_SEND, 45015, 1);
    let e = api
        .send_customer_message("late-user", CustomerMessage::Text("x".into()))
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::Wechat { code: 45015, .. }), "{e}");
    // Invalid messages never reach WeChat.
    let before = fake.calls(paths::CUSTOM_SEND);
    assert!(matches!(
        api.send_customer_message("u", CustomerMessage::Text(String::new()))
            .await,
        Err(ApiError::Invalid(_))
    ));
    assert!(matches!(
        api.send_customer_message("u", CustomerMessage::News(vec![]))
            .await,
        Err(ApiError::Invalid(_))
    ));
    assert_eq!(fake.calls(paths::CUSTOM_SEND), before);
}

#[tokio::test]
async fn user_info_through_the_plugin_api() {
    let fake = FakeWechat::start().await;
    fake.set_user("gone", json!({"subscribe": 0, "openid": "gone"}));
    let api = api(&fake);
    let u = api.get_user_info("someone").await.unwrap();
    assert!(u.subscribed);
    assert_eq!(
        (
            u.openid.as_str(),
            u.tag_ids.clone(),
            u.qr_scene,
            u.subscribe_scene.as_deref()
        ),
        (
            "someone",
            vec![128, 2],
            Some(98765),
            Some("ADD_SCENE_QR_CODE")
        )
    );
    let q = &fake.requests(paths::USER_INFO)[0];
    assert_eq!(
        (q["openid"].as_str(), q["lang"].as_str()),
        (Some("someone"), Some("zh_CN"))
    );
    assert!(!api.get_user_info("gone").await.unwrap().subscribed);
    // A plugin's error never carries the token or the secret.
    fake.expire_tokens();
    fake.fail_next(paths::USER_INFO, 40001, 5);
    let e = api.get_user_info("x").await.unwrap_err().to_string();
    for secret in fake
        .valid_tokens()
        .iter()
        .map(String::as_str)
        .chain([wxhost_tests::fake_wechat::APP_SECRET])
    {
        assert!(!e.contains(secret), "{e}");
    }
}
