//! The example plugins (`echo`, `keyword`, `welcome`, `menu`), built from
//! source for wasm32-wasip2, on the real runtime; plus dispatch order and
//! the SDK's fallback chain.

mod plugin_support;

use plugin_support::*;
use wxhost::api::QrCode;
use wxhost::config::PluginSettings;
use wxhost::plugin::{HandlerInput, Kind, LogLevel, PluginOutcome};
use wxhost::protocol::{Body, Event, Reply};

fn reply_text(o: PluginOutcome) -> String {
    match o {
        PluginOutcome::Reply(Reply::Text(t)) => t,
        other => panic!("expected a text reply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_answers_text_with_the_same_text() {
    let e = env(Default::default());
    let p = e.rt.load_file(&wasm("echo")).await.unwrap();
    assert_eq!(p.id(), "echo");
    assert_eq!(p.info.name, "echo");
    assert_eq!(p.info.handles, vec![Kind::Text]);
    assert!(p.handles(Kind::Text) && !p.handles(Kind::Image) && !p.handles(Kind::EventClick));
    let out = p
        .call(&HandlerInput::new(&text("你好, wasm")), deadline())
        .await
        .unwrap();
    assert_eq!(reply_text(out), "你好, wasm");
}

#[tokio::test(flavor = "multi_thread")]
async fn keyword_replies_from_its_config_and_passes_otherwise() {
    let s = PluginSettings {
        config: [(
            "rules".to_string(),
            "hello=Hi there!;price=See our menu".to_string(),
        )]
        .into(),
        ..Default::default()
    };
    let e = env(settings(&[("keyword", s)]));
    let p = e.rt.load_file(&wasm("keyword")).await.unwrap();
    let r = p
        .call_traced(&HandlerInput::new(&text("  HELLO ")), deadline())
        .await;
    assert_eq!(reply_text(r.result.unwrap()), "Hi there!");
    assert_eq!(r.logs.len(), 1, "{:?}", r.logs);
    assert_eq!(r.logs[0].level, LogLevel::Info);
    assert_eq!(
        r.logs[0].fields,
        vec![("keyword".to_string(), "hello".to_string())]
    );
    assert_eq!(
        p.call(&HandlerInput::new(&text("something else")), deadline())
            .await
            .unwrap(),
        PluginOutcome::Pass
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn welcome_reads_the_qr_scene_and_counts_visits_in_kv() {
    let e = env(Default::default());
    let p = e.rt.load_file(&wasm("welcome")).await.unwrap();
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
    let out = p
        .call(&HandlerInput::new(&sub).with_qr_code(Some(&qr)), deadline())
        .await
        .unwrap();
    assert_eq!(
        reply_text(out),
        "Welcome! You came from scene promo42 (spring poster)."
    );

    let scan = event(
        "SCAN",
        Event::Scan {
            scene: "promo42".into(),
            ticket: None,
        },
        Some("promo42"),
    );
    let r = p.call_traced(&HandlerInput::new(&scan), deadline()).await;
    assert_eq!(
        reply_text(r.result.unwrap()),
        "Welcome! You came from scene promo42."
    );
    assert!(
        r.logs[0]
            .fields
            .contains(&("visits".to_string(), "2".to_string())),
        "{:?}",
        r.logs
    );
    // kv is namespaced by plugin id.
    assert_eq!(
        e.kv.get("welcome", "scene:promo42").await.unwrap(),
        Some(b"2".to_vec())
    );

    let plain = event(
        "subscribe",
        Event::Subscribe {
            scene: None,
            ticket: None,
        },
        None,
    );
    assert_eq!(
        reply_text(
            p.call(&HandlerInput::new(&plain), deadline())
                .await
                .unwrap()
        ),
        "Welcome!"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn menu_answers_clicks_by_key() {
    let s = PluginSettings {
        config: [("click.PROMO".to_string(), "20% off today".to_string())].into(),
        ..Default::default()
    };
    let e = env(settings(&[("menu", s)]));
    let p = e.rt.load_file(&wasm("menu")).await.unwrap();
    let click = |k: &str| event("CLICK", Event::Click { key: k.into() }, Some(k));
    assert_eq!(
        reply_text(
            p.call(&HandlerInput::new(&click("HELP")), deadline())
                .await
                .unwrap()
        ),
        "Send any text and we will answer."
    );
    assert_eq!(
        reply_text(
            p.call(&HandlerInput::new(&click("PROMO")), deadline())
                .await
                .unwrap()
        ),
        "20% off today"
    );
    match p
        .call(&HandlerInput::new(&click("NEWS")), deadline())
        .await
        .unwrap()
    {
        PluginOutcome::Reply(Reply::News(a)) => assert_eq!(a[0].url, "https://example.com/news"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        p.call(&HandlerInput::new(&click("NOPE")), deadline())
            .await
            .unwrap(),
        PluginOutcome::Pass
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_default_handlers_fall_back_to_pass() {
    let e = env(Default::default());
    let menu = e.rt.load_file(&wasm("menu")).await.unwrap();
    let echo = e.rt.load_file(&wasm("echo")).await.unwrap();
    // Not declared, so the server would not call them; called anyway, the
    // SDK's defaults go specific → handle_event → handle_unsupported → pass.
    let view = event(
        "VIEW",
        Event::View {
            url: "https://x".into(),
            menu_id: None,
        },
        Some("https://x"),
    );
    assert_eq!(
        menu.call(&HandlerInput::new(&view), deadline())
            .await
            .unwrap(),
        PluginOutcome::Pass
    );
    let other = event(
        "card_pass_check",
        Event::Other {
            name: "card_pass_check".into(),
            key: None,
        },
        None,
    );
    assert_eq!(Kind::of(&other), Kind::Event);
    assert_eq!(
        menu.call(&HandlerInput::new(&other), deadline())
            .await
            .unwrap(),
        PluginOutcome::Pass
    );
    let image = message(
        "image",
        Body::Image {
            pic_url: "u".into(),
            media_id: "m".into(),
        },
        &[],
    );
    assert_eq!(
        echo.call(&HandlerInput::new(&image), deadline())
            .await
            .unwrap(),
        PluginOutcome::Pass
    );
    let unknown = message("mystery", Body::Unknown, &[]);
    assert_eq!(Kind::of(&unknown), Kind::Unsupported);
    assert_eq!(
        echo.call(&HandlerInput::new(&unknown), deadline())
            .await
            .unwrap(),
        PluginOutcome::Pass
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscribe_message_popup_reaches_its_typed_handler_with_every_template() {
    let e = env(Default::default());
    e.install("fixture", "fixture");
    e.rt.load_all().await.unwrap();
    let xml = "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o_user]]></FromUserName>\
        <CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_popup_event]]></Event>\
        <SubscribeMsgPopupEvent><List><TemplateId><![CDATA[t1]]></TemplateId><SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>2</PopupScene></List>\
        <List><TemplateId><![CDATA[t2]]></TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString><PopupScene>2</PopupScene></List></SubscribeMsgPopupEvent></xml>";
    let msg = wxhost::protocol::parse_message(xml).unwrap();
    assert_eq!(Kind::of(&msg), Kind::EventSubscribeMsgPopup);
    let d = e.rt.dispatch(&msg, None, deadline()).await;
    match d.answer {
        Some((id, PluginOutcome::Reply(Reply::Text(t)))) => {
            assert_eq!(
                (id.as_str(), t.as_str()),
                ("fixture", "popup t1=accept,t2=reject")
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dispatch_follows_priority_and_config_overrides_it() {
    let kw = PluginSettings {
        config: [("rules".to_string(), "hello=Hi!".to_string())].into(),
        ..Default::default()
    };
    let e = env(settings(&[("keyword", kw.clone())]));
    e.install("echo", "echo");
    e.install("keyword", "keyword");
    e.install("menu", "menu");
    e.rt.load_all().await.unwrap();
    let ids: Vec<String> = e.rt.plugins().iter().map(|p| p.id().to_owned()).collect();
    assert_eq!(ids, ["keyword", "echo", "menu"]); // 10, then 0 by id
    let d = e.rt.dispatch(&text("hello"), None, deadline()).await;
    assert_eq!(
        d.answer,
        Some((
            "keyword".to_string(),
            PluginOutcome::Reply(Reply::Text("Hi!".into()))
        ))
    );
    let d = e.rt.dispatch(&text("other"), None, deadline()).await;
    assert_eq!(
        d.answer,
        Some((
            "echo".to_string(),
            PluginOutcome::Reply(Reply::Text("other".into()))
        ))
    );
    assert!(d.failures.is_empty());

    // Same files, echo's priority raised by config.
    let echo = PluginSettings {
        priority: Some(50),
        ..Default::default()
    };
    let e2 = env(settings(&[("keyword", kw), ("echo", echo)]));
    e2.install("echo", "echo");
    e2.install("keyword", "keyword");
    e2.rt.load_all().await.unwrap();
    assert_eq!(e2.rt.plugins()[0].id(), "echo");
    assert_eq!(e2.rt.plugins()[0].priority, 50);
    let d = e2.rt.dispatch(&text("hello"), None, deadline()).await;
    assert_eq!(d.answer.unwrap().0, "echo");
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_plugins_are_not_loaded() {
    let e = env(settings(&[(
        "echo",
        PluginSettings {
            enabled: Some(false),
            ..Default::default()
        },
    )]));
    e.install("echo", "echo");
    e.install("menu", "menu");
    e.rt.load_all().await.unwrap();
    let ids: Vec<String> = e.rt.plugins().iter().map(|p| p.id().to_owned()).collect();
    assert_eq!(ids, ["menu"]);
}
