//! The WIT versions the runtime links: components built for 0.2 (the
//! committed fixtures in `tests/fixtures/wit-0.2/`, never rebuilt) load and
//! behave as they did, through the 1.0 → 0.2 conversions (the JavaScript
//! one runs through the service in `tests/tests/e2e_wit_compat.rs`); 1.0
//! components get the account in their context and the typed receipt events.

mod plugin_support;

use std::path::PathBuf;

use plugin_support::*;
use wxhost::api::QrCode;
use wxhost::plugin::{AccountInfo, HandlerInput, Kind, PluginOutcome, WitVersion};
use wxhost::protocol::{Event, Reply, SubscribeMsgItem, SubscribeMsgSentItem};

/// A committed 0.2 component.
fn fixture_v0_2(name: &str) -> PathBuf {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    PathBuf::from(manifest_dir).join(format!("../tests/fixtures/wit-0.2/{name}.wasm"))
}

fn reply_text(o: PluginOutcome) -> String {
    match o {
        PluginOutcome::Reply(Reply::Text(t)) => t,
        other => panic!("not a text reply: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_0_2_echo_and_welcome_run_unchanged_through_the_conversions() {
    let e = env(Default::default());
    let echo = e.rt.load_file(&fixture_v0_2("echo")).await.unwrap();
    assert_eq!(echo.wit_version(), Some(WitVersion::V0_2));
    assert_eq!(echo.info.handles, [Kind::Text]);
    let out = echo
        .call(&HandlerInput::new(&text("你好, 0.2")), deadline())
        .await
        .unwrap();
    assert_eq!(reply_text(out), "你好, 0.2");

    // Welcome: the subscribe record with its stored QR code, and kv (0.2's
    // `kv-incr` with a string error) counting visits.
    let welcome = e.rt.load_file(&fixture_v0_2("welcome")).await.unwrap();
    assert_eq!(welcome.wit_version(), Some(WitVersion::V0_2));
    let qr = QrCode {
        scene: "promo42".into(),
        ticket: "T".into(),
        url: "http://weixin.qq.com/q/x".into(),
        permanent: false,
        expires_at: Some(1),
        note: Some("spring poster".into()),
        created_at: 0,
    };
    let sub = event(
        "subscribe",
        Event::Subscribe {
            scene: Some("promo42".into()),
            ticket: Some("T".into()),
        },
        Some("qrscene_promo42"),
    );
    for _ in 0..2 {
        let out = welcome
            .call(&HandlerInput::new(&sub).with_qr_code(Some(&qr)), deadline())
            .await
            .unwrap();
        assert_eq!(
            reply_text(out),
            "Welcome! You came from scene promo42 (spring poster)."
        );
    }
    let visits = e.kv.get("welcome", "scene:promo42").await.unwrap();
    assert_eq!(visits.as_deref(), Some(&b"2"[..]));
    // A kind 0.2 has no export for reaches nothing it did not declare.
    let receipt = event(
        "TEMPLATESENDJOBFINISH",
        Event::TemplateSendJobFinish {
            msg_id: "1".into(),
            status: "success".into(),
        },
        None,
    );
    assert!(!welcome.handles(Kind::of(&receipt)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_1_0_plugin_sees_its_account_and_the_typed_receipts() {
    let e = env(Default::default());
    let p = e.rt.load_file(&wasm("fixture")).await.unwrap();
    assert_eq!(p.wit_version(), Some(WitVersion::V1));
    let call = async |msg: &wxhost::protocol::Message, account: Option<AccountInfo>| {
        let mut input = HandlerInput::new(msg);
        if let Some(a) = account {
            input = input.with_account(a);
        }
        reply_text(p.call(&input, deadline()).await.unwrap())
    };

    assert_eq!(
        call(&text("account"), Some(AccountInfo::new("shop", "wx_shop"))).await,
        "account shop wx_shop gh_test"
    );
    assert_eq!(
        call(&text("account"), None).await,
        "account default  gh_test"
    );

    let template = event(
        "TEMPLATESENDJOBFINISH",
        Event::TemplateSendJobFinish {
            msg_id: "200163836".into(),
            status: "failed:user block".into(),
        },
        None,
    );
    assert_eq!(Kind::of(&template), Kind::EventTemplateSendJobFinish);
    assert_eq!(
        call(&template, None).await,
        "template 200163836 failed:user block"
    );
    let mass = event(
        "MASSSENDJOBFINISH",
        Event::MassSendJobFinish {
            msg_id: "1000001625".into(),
            status: "send success".into(),
            total_count: 100,
            filter_count: 80,
            sent_count: 75,
            error_count: 5,
        },
        None,
    );
    assert_eq!(
        call(&mass, None).await,
        "mass 1000001625 send success 100/80/75/5"
    );
    let change = event(
        "subscribe_msg_change_event",
        Event::SubscribeMsgChange(vec![SubscribeMsgItem {
            template_id: "t1".into(),
            status: "reject".into(),
            popup_scene: None,
        }]),
        None,
    );
    assert_eq!(call(&change, None).await, "change t1=reject");
    let sent = event(
        "subscribe_msg_sent_event",
        Event::SubscribeMsgSent(vec![SubscribeMsgSentItem {
            template_id: "t1".into(),
            msg_id: "1700827132819554304".into(),
            error_code: "0".into(),
            error_status: "success".into(),
        }]),
        None,
    );
    assert_eq!(
        call(&sent, None).await,
        "sent t1:1700827132819554304:0:success"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_1_0_plugin_handling_only_text_loads_and_answers() {
    let e = env(Default::default());
    // As released for 1.0 (a 1.0 component imports `@1.0.0` names, which
    // link to this 1.1 host's definitions).
    let released = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/wit-1.0/echo.wasm"
    );
    let p =
        e.rt.load_file(std::path::Path::new(released))
            .await
            .unwrap();
    assert_eq!(p.wit_version(), Some(WitVersion::V1));
    assert_eq!(p.info.handles, [Kind::Text]);
    let exports = p.exports();
    assert!(
        exports.iter().any(|x| x == "wechat:plugin/handler@1.0.0"),
        "{exports:?}"
    );
    let out = p
        .call(&HandlerInput::new(&text("hello 1.0")), deadline())
        .await
        .unwrap();
    assert_eq!(reply_text(out), "hello 1.0");
}
