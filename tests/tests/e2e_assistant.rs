//! The assistant plugin end to end, against the fake model server and the
//! fake WeChat (its retrying delivery and its customer-service API): replies
//! held for WeChat's retries, late replies, long answers, the conversation
//! kept per user, model failures, and the API key kept secret.

use std::time::Duration;

use wxhost::protocol::{Mode, Push};
use wxhost_tests::fake_model::{FakeModel, long_text};
use wxhost_tests::fake_wechat::{APP_SECRET, FakeWechat, paths};
use wxhost_tests::retrying::{Delivery, WECHAT_WAIT, deliver};
use wxhost_tests::service::{Wxhost, cli};

const KEY: &str = "sk-test-assistant-key-5f0c9a7e";
const USER: &str = "o_test_user";

/// The assistant against `model` and `wechat`, its key from the
/// environment; `server` is extra `[server]` TOML, `plugin` extra
/// `[plugin.assistant]` lines, `config` extra `[plugin.assistant.config]`
/// lines.
async fn assistant_with(
    model: &FakeModel,
    wechat: &FakeWechat,
    server: &str,
    plugin: &str,
    config: &str,
    env: &[(&str, &str)],
) -> Wxhost {
    let toml = format!(
        "[server]\n{server}\n\
         [plugin.assistant]\ntimeout_ms = 30000\n\
         capabilities = [\"http-outgoing\", \"customer-message\"]\n\
         http_hosts = [\"{host}\"]\n{plugin}\n\
         [plugin.assistant.config]\nbase_url = \"{base}\"\nmodel = \"test-model\"\n\
         max_history = \"2\"\n{config}\n\
         [plugin.assistant.secrets]\napi_key = \"env:ASSISTANT_API_KEY\"\n",
        host = model.host(),
        base = model.base_url(),
    );
    let base = wechat.base_url();
    let mut vars = vec![
        ("WXHOST_API_BASE_URL", base.as_str()),
        ("WXHOST_APP_SECRET", APP_SECRET),
        ("ASSISTANT_API_KEY", KEY),
    ];
    vars.extend_from_slice(env);
    Wxhost::start(&["assistant"], &toml, &vars).await
}

async fn assistant(
    model: &FakeModel,
    wechat: &FakeWechat,
    server: &str,
    config: &str,
    env: &[(&str, &str)],
) -> Wxhost {
    assistant_with(model, wechat, server, "", config, env).await
}

fn text_xml(content: &str, msg_id: u64) -> String {
    Push::Text(content.into()).to_xml("gh_test", USER, wxhost::unix_now(), msg_id)
}

/// The `Content` of a text reply.
fn content(reply: &str) -> String {
    let start = reply.find("<Content><![CDATA[").expect("a text reply") + 18;
    let end = reply[start..].find("]]></Content>").expect("CDATA end") + start;
    reply[start..end].to_owned()
}

async fn ask(host: &Wxhost, text: &str, msg_id: u64) -> String {
    let reply = host
        .push(&Push::Text(text.into()), Mode::Safe, msg_id)
        .await;
    assert_ne!(
        reply,
        "success",
        "no passive reply to {text}:\n{}",
        host.log()
    );
    content(&reply)
}

#[tokio::test]
async fn a_nine_second_answer_arrives_on_the_retry_open_when_it_is_ready() {
    // WeChat's real schedule (5 s waits, the default 4.5 s budget): the
    // first delivery is left unanswered, the second (open from 5 s to 10 s)
    // gets the answer at ~9 s. One model call, no customer message. Held
    // by the plugin's own setting (the server's default is off).
    let model = FakeModel::start().await;
    let wechat = FakeWechat::start().await;
    let host = assistant_with(&model, &wechat, "", "hold_for_retries = true", "", &[]).await;
    let attempts = deliver(
        &host,
        &text_xml("delay:9000 hello", 901),
        Mode::Safe,
        WECHAT_WAIT,
    )
    .await;
    assert_eq!(attempts.len(), 2, "{attempts:#?}\n{}", host.log());
    assert_eq!(attempts[0].delivery, Delivery::Unanswered);
    match &attempts[1].delivery {
        Delivery::Answered { status, body } => {
            assert_eq!(*status, 200);
            assert_eq!(content(body), "echo: hello (1 messages)");
        }
        other => panic!("second delivery: {other:?}\n{}", host.log()),
    }
    assert_eq!(model.calls().len(), 1);
    assert_eq!(wechat.calls(paths::CUSTOM_SEND), 0);
    // The first delivery's request ended with WeChat's connection: nothing
    // was answered on it (one push line, the second delivery's, retry=true).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = host.log();
    let pushes: Vec<&str> = log.lines().filter(|l| l.contains("msg_id=901")).collect();
    assert_eq!(pushes.len(), 1, "{log}");
    assert!(pushes[0].contains("retry=true") && pushes[0].contains("outcome=\"reply\""));
}

#[tokio::test]
async fn an_answer_slower_than_every_delivery_arrives_as_a_customer_message() {
    // WeChat's schedule at a fifth of its speed: a 1 s budget and 1.5 s
    // waits (the host takes WeChat's wait to be its budget + 0.5 s). The
    // model takes 5 s, longer than the three deliveries (4 s): the third is
    // answered `success` within its wait, then the answer goes out as a
    // customer-service message. Still one model call.
    let model = FakeModel::start().await;
    let wechat = FakeWechat::start().await;
    let host = assistant(
        &model,
        &wechat,
        "hold_for_retries = true",
        "",
        &[("WXHOST_BUDGET_MS", "1000")],
    )
    .await;
    let wait = Duration::from_millis(1500);
    let attempts = deliver(&host, &text_xml("delay:5000 slow", 902), Mode::Safe, wait).await;
    let outcomes: Vec<&Delivery> = attempts.iter().map(|a| &a.delivery).collect();
    assert_eq!(
        outcomes,
        [
            &Delivery::Unanswered,
            &Delivery::Unanswered,
            &Delivery::Answered {
                status: 200,
                body: "success".into()
            }
        ],
        "{attempts:#?}\n{}",
        host.log()
    );
    let sent = wechat
        .wait_for_request(paths::CUSTOM_SEND, 0, Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no customer message:\n{}", host.log()));
    assert_eq!(sent["touser"], USER);
    assert_eq!(sent["text"]["content"], "echo: slow (1 messages)");
    assert_eq!(model.calls().len(), 1);
}

#[tokio::test]
async fn without_holding_the_first_delivery_is_answered_success_at_the_budget() {
    // The default: nothing held, the budget answers `success` at once.
    let model = FakeModel::start().await;
    let wechat = FakeWechat::start().await;
    let host = assistant(&model, &wechat, "", "", &[("WXHOST_BUDGET_MS", "500")]).await;
    let attempts = deliver(
        &host,
        &text_xml("delay:1500 quick", 903),
        Mode::Safe,
        WECHAT_WAIT,
    )
    .await;
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    assert_eq!(
        attempts[0].delivery,
        Delivery::Answered {
            status: 200,
            body: "success".into()
        }
    );
    let sent = wechat
        .wait_for_request(paths::CUSTOM_SEND, 0, Duration::from_secs(10))
        .await
        .expect("late reply");
    assert_eq!(sent["text"]["content"], "echo: quick (1 messages)");
}

#[tokio::test]
async fn a_five_thousand_byte_answer_is_split_within_the_limits() {
    let model = FakeModel::start().await;
    let wechat = FakeWechat::start().await;
    let expected = long_text(5000);

    // Customer-service messages allowed: the first parts are sent, in
    // order, and the reply is the last.
    let host = assistant(&model, &wechat, "", "send_long = \"true\"", &[]).await;
    let reply = ask(&host, "long:5000", 1).await;
    let sent: Vec<String> = wechat
        .requests(paths::CUSTOM_SEND)
        .iter()
        .map(|r| r["text"]["content"].as_str().unwrap().to_owned())
        .collect();
    assert!(!sent.is_empty() && sent.len() < 5, "{} sent", sent.len());
    let mut parts = sent.clone();
    parts.push(reply);
    assert!(parts.iter().all(|p| p.len() <= 2048), "a part is too long");
    assert_eq!(parts.concat(), expected);

    // Not allowed: the first part, then each "more".
    let host = assistant(&model, &wechat, "", "", &[]).await;
    wechat.reset_counts();
    let mut got = String::new();
    let mut reply = ask(&host, "long:5000", 2).await;
    let mut id = 3;
    while let Some(i) = reply.find("\n（回复“更多”") {
        assert!(reply.len() <= 2048);
        got.push_str(&reply[..i]);
        reply = ask(&host, "更多", id).await;
        id += 1;
        assert!(id < 10, "too many parts");
    }
    got.push_str(&reply);
    assert_eq!(got, expected);
    assert!(id > 4, "5,000 bytes take three parts");
    assert_eq!(wechat.calls(paths::CUSTOM_SEND), 0);
}

#[tokio::test]
async fn the_conversation_is_kept_up_to_max_history_and_reset_clears_it() {
    let model = FakeModel::start().await;
    let wechat = FakeWechat::start().await;
    let host = assistant(&model, &wechat, "", "system_prompt = \"Be brief.\"", &[]).await;
    // Each call: the system prompt, two messages per kept exchange, the new one.
    assert_eq!(ask(&host, "a", 1).await, "echo: a (2 messages)");
    assert_eq!(ask(&host, "b", 2).await, "echo: b (4 messages)");
    assert_eq!(ask(&host, "c", 3).await, "echo: c (6 messages)");
    // At most two exchanges (max_history = 2): the oldest is gone.
    assert_eq!(ask(&host, "d", 4).await, "echo: d (6 messages)");
    let last = model.calls().pop().unwrap();
    let roles: Vec<(&str, &str)> = last
        .messages
        .iter()
        .map(|(r, c)| (r.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        roles,
        [
            ("system", "Be brief."),
            ("user", "b"),
            ("assistant", "echo: b (4 messages)"),
            ("user", "c"),
            ("assistant", "echo: c (6 messages)"),
            ("user", "d"),
        ]
    );
    assert_eq!(last.model, "test-model");
    assert_eq!(
        last.authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    let reset = ask(&host, "/reset", 5).await;
    assert!(reset.contains("cleared"), "{reset}");
    assert_eq!(ask(&host, "e", 6).await, "echo: e (2 messages)");
    // Another user has a conversation of their own.
    let xml = Push::Text("f".into()).to_xml("gh_test", "o_other", wxhost::unix_now(), 7);
    let (_, body) = host.post_xml(&xml, Mode::Safe).await;
    assert_eq!(
        content(&host.open(&body, Mode::Safe)),
        "echo: f (2 messages)"
    );
}

#[tokio::test]
async fn voice_messages_are_answered_from_the_recognition() {
    let model = FakeModel::start().await;
    let wechat = FakeWechat::start().await;
    let host = assistant(&model, &wechat, "", "", &[]).await;
    let voice = |recognition: &str, id: u64| {
        format!(
            "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{USER}]]></FromUserName>\
             <CreateTime>{}</CreateTime><MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[m]]></MediaId>\
             <Format><![CDATA[amr]]></Format><Recognition><![CDATA[{recognition}]]></Recognition><MsgId>{id}</MsgId></xml>",
            wxhost::unix_now()
        )
    };
    let (_, body) = host.post_xml(&voice("你好", 11), Mode::Safe).await;
    assert_eq!(
        content(&host.open(&body, Mode::Safe)),
        "echo: 你好 (1 messages)"
    );
    let (_, body) = host.post_xml(&voice("", 12), Mode::Safe).await;
    assert!(content(&host.open(&body, Mode::Safe)).contains("voice message"));
    assert_eq!(model.calls().len(), 1);
}

#[tokio::test]
async fn a_model_error_or_timeout_gives_a_readable_message_and_keeps_no_history() {
    let model = FakeModel::start().await;
    let wechat = FakeWechat::start().await;
    let host = assistant(&model, &wechat, "", "model_timeout_ms = \"1000\"", &[]).await;
    model.fail_next(1);
    let reply = ask(&host, "hi", 1).await;
    assert!(reply.contains("unavailable"), "{reply}");
    let reply = ask(&host, "delay:3000 hi", 2).await;
    assert!(reply.contains("took too long"), "{reply}");
    assert_eq!(ask(&host, "hi", 3).await, "echo: hi (1 messages)");
    let log = host.log();
    assert!(log.contains("the model call failed"), "{log}");
}

#[tokio::test]
async fn the_api_key_never_appears_in_logs_config_or_errors() {
    let model = FakeModel::start().await;
    let wechat = FakeWechat::start().await;
    let host = assistant(&model, &wechat, "", "", &[]).await;
    model.fail_next(1);
    ask(&host, "hi", 1).await;
    ask(&host, "hi again", 2).await;
    assert_eq!(
        model.calls()[1].authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert!(!host.log().contains(KEY), "key in the log");

    // `wxhost config` shows where the key is, not the key.
    let out = cli(host.dir.path())
        .arg("--config")
        .arg(host.dir.path().join("wxhost.toml"))
        .arg("config")
        .env("ASSISTANT_API_KEY", KEY)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("env:ASSISTANT_API_KEY"), "{shown}");
    assert!(!shown.contains(KEY), "key in `wxhost config`");
}

#[tokio::test]
async fn a_missing_secret_refuses_the_plugin_naming_the_secret_and_where() {
    let model = FakeModel::start().await;
    let wechat = FakeWechat::start().await;
    let host = assistant(&model, &wechat, "", "", &[("ASSISTANT_API_KEY", "")]).await;
    let reply = host.push(&Push::Text("hi".into()), Mode::Safe, 1).await;
    assert_eq!(reply, "success", "no plugin answers");
    let log = host.log();
    assert!(
        log.contains(
            "secret `api_key` is missing: expected in the environment variable ASSISTANT_API_KEY"
        ),
        "{log}"
    );
    assert!(model.calls().is_empty());
}

#[tokio::test]
async fn a_slow_answer_shows_typing_where_configured() {
    let model = FakeModel::start().await;
    let wechat = FakeWechat::start().await;
    let host = assistant(&model, &wechat, "typing_after_ms = 300", "", &[]).await;
    assert_eq!(ask(&host, "fast", 1).await, "echo: fast (1 messages)");
    assert_eq!(
        wechat.calls(paths::CUSTOM_TYPING),
        0,
        "a quick answer needs none"
    );
    assert_eq!(
        ask(&host, "delay:1500 slow", 2).await,
        "echo: slow (3 messages)"
    );
    assert_eq!(
        wechat.requests(paths::CUSTOM_TYPING),
        [serde_json::json!({"touser": USER, "command": "Typing"})]
    );
    // Off by default.
    let host = assistant(&model, &wechat, "", "", &[]).await;
    wechat.reset_counts();
    ask(&host, "delay:1500 slow", 3).await;
    assert_eq!(wechat.calls(paths::CUSTOM_TYPING), 0);
}

#[tokio::test]
async fn where_sending_is_not_allowed_an_answer_after_the_last_delivery_waits_for_more() {
    // The schedule at a fifth of its speed, late replies off (an account
    // that may not send customer-service messages): the third delivery is
    // answered `success`, and the answer, ready later, is the "more" reply.
    let model = FakeModel::start().await;
    let wechat = FakeWechat::start().await;
    let host = assistant(
        &model,
        &wechat,
        "hold_for_retries = true\nlate_replies = false",
        "late_after_secs = \"3\"",
        &[("WXHOST_BUDGET_MS", "1000")],
    )
    .await;
    let wait = Duration::from_millis(1500);
    let attempts = deliver(&host, &text_xml("delay:5000 slow", 904), Mode::Safe, wait).await;
    assert_eq!(attempts.len(), 3, "{attempts:#?}");
    assert_eq!(
        attempts[2].delivery,
        Delivery::Answered {
            status: 200,
            body: "success".into()
        }
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !host.log().contains("kept for") {
        assert!(std::time::Instant::now() < deadline, "{}", host.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ask(&host, "more", 905).await, "echo: slow (1 messages)");
    assert_eq!(model.calls().len(), 1);
    assert_eq!(wechat.calls(paths::CUSTOM_SEND), 0);
}

#[tokio::test]
async fn the_api_key_never_appears_in_the_console_or_its_api() {
    let model = FakeModel::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("assistant-key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let toml = format!(
        "[admin]\nshow_content = true\n\
         [plugin.assistant]\ntimeout_ms = 30000\ncapabilities = [\"http-outgoing\"]\nhttp_hosts = [\"{}\"]\n\
         [plugin.assistant.config]\nbase_url = \"{}\"\n\
         [plugin.assistant.secrets]\napi_key = \"file:{}\"\n",
        model.host(),
        model.base_url(),
        key_file.display()
    );
    let console =
        wxhost_tests::console::Console::start_with(&["assistant"], &toml, &[], None).await;
    let reply = console.push(&Push::Text("hi".into()), 1).await;
    assert!(reply.contains("echo: hi"), "{reply}");
    assert_eq!(
        model.calls()[0].authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    let session = console.login().await;
    for path in ["/", "/plugins", "/pushes", "/audit"] {
        let page = console.page(&session.cookie, path).await;
        assert!(!page.contains(KEY), "key on {path}");
    }
    for path in [
        "/api/v1/plugins",
        "/api/v1/pushes",
        "/api/v1/accounts",
        "/api/v1/audit",
    ] {
        let r = console
            .api(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(!r.text().await.unwrap().contains(KEY), "key in {path}");
    }
    let metrics = reqwest::get(console.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains(KEY));
}
