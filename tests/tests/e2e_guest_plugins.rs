//! JavaScript and Python plugins (built from source by `make plugins`)
//! through the real service in safe mode: the examples answer, read their
//! config, keep kv across calls and restarts, and are refused a WeChat API
//! without its capability; failures in either language are contained and
//! classified while a Rust plugin keeps answering; and compiling a large
//! component never stalls serving.

use std::path::Path;
use std::time::{Duration, Instant};

use wxhost::protocol::{self, Mode, Push, Reply};
use wxhost_tests::fake_wechat::{APP_SECRET, FakeWechat};
use wxhost_tests::service::{Wxhost, wasm};

fn text_of(xml: &str) -> String {
    match protocol::parse_reply(xml)
        .unwrap_or_else(|e| panic!("not a reply ({e}): {xml}"))
        .reply
    {
        Reply::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

async fn say(host: &Wxhost, text: &str, msg_id: u64) -> String {
    let body = host
        .push(&Push::Text(text.into()), Mode::Safe, msg_id)
        .await;
    if body == "success" {
        return body;
    }
    text_of(&body)
}

#[tokio::test]
async fn echo_js_answers_through_the_service_in_safe_mode() {
    let host = Wxhost::start(&["echo-js"], "", &[]).await;
    for (i, t) in ["你好, JavaScript", "a <b> & ]]> c"].iter().enumerate() {
        assert_eq!(say(&host, t, 10 + i as u64).await, *t);
    }
    assert!(
        host.log().contains("plugin echo-js loaded"),
        "{}",
        host.log()
    );
}

#[tokio::test]
async fn keyword_py_reads_its_config_and_keeps_its_kv_across_calls_and_restarts() {
    let config = "[plugin.keyword-py.config]\nrules = \"hello=Hi there!;price=See our menu\"\n";
    let mut host = Wxhost::start(&["keyword-py"], config, &[]).await;
    assert_eq!(say(&host, "hello", 1).await, "Hi there!");
    assert_eq!(say(&host, " HELLO ", 2).await, "Hi there!");
    assert_eq!(say(&host, "price", 3).await, "See our menu");
    // No rule: the plugin passes and the push gets `success`.
    assert_eq!(say(&host, "something else", 4).await, "success");
    // The hit counter lives in the plugin's kv (`hits/<keyword>`) and
    // counts on after a restart.
    host.restart().await;
    assert_eq!(say(&host, "hello", 5).await, "Hi there!");
    let log = host.log();
    for hits in ["1", "2", "3"] {
        assert!(
            log.contains(&format!(
                "keyword matched keyword=\"hello\" hits=\"{hits}\""
            )),
            "hit {hits} not counted:\n{log}"
        );
    }
}

#[tokio::test]
async fn a_guest_plugin_without_the_capability_is_refused_the_wechat_api() {
    let fake = FakeWechat::start().await;
    let base = fake.base_url();
    let api = [
        ("WXHOST_API_BASE_URL", base.as_str()),
        ("WXHOST_APP_SECRET", APP_SECRET),
    ];
    // echo-js answers `whoami` from `wechat.getUserInfo`, and degrades to
    // the bare OpenID when refused.
    let host = Wxhost::start(&["echo-js"], "", &api).await;
    assert_eq!(say(&host, "whoami", 1).await, "You are o_test_user.");
    assert_eq!(fake.total_calls(), 0, "no API call for a refused plugin");
    let log = host.log();
    assert!(
        log.contains("capability user-info not granted") && log.contains("code=\"-2\""),
        "{log}"
    );
    drop(host);
    let granted = "[plugin.echo-js]\ncapabilities = [\"user-info\"]\n";
    let host = Wxhost::start(&["echo-js"], granted, &api).await;
    let me = say(&host, "whoami", 2).await;
    assert!(
        me.starts_with("You are o_test_user (zh_CN), following since 2013-"),
        "{me}"
    );
}

#[tokio::test]
async fn throwing_and_looping_guest_plugins_are_contained_and_classified_while_rust_answers() {
    // The fault plugins (priority 100) run first and fail; echo (Rust,
    // priority 0) answers every push.
    let config = "[plugin.fault-js]\ntimeout_ms = 300\n[plugin.fault-py]\ntimeout_ms = 300\n";
    let host = Wxhost::start(&["fault-js", "fault-py", "echo"], config, &[]).await;
    assert_eq!(say(&host, "throw", 1).await, "throw");
    assert_eq!(say(&host, "loop", 2).await, "loop");
    assert_eq!(say(&host, "alloc", 3).await, "alloc");
    let log = host.log();
    for want in [
        "plugin fault-js failed on text (panic): Error: plugin bug: cannot handle \"throw\" at plugins/fault-js/plugin.js:",
        "plugin fault-py failed on text (panic): app.PluginBug: plugin bug: cannot handle 'throw' at app.py:",
        "plugin fault-js failed on text (timeout)",
        "plugin fault-py failed on text (timeout)",
        "plugin fault-js failed on text (memory_limit)",
        "plugin fault-py failed on text (memory_limit)",
    ] {
        assert!(log.contains(want), "missing {want:?} in:\n{log}");
    }
    // The trace rides on the failure line.
    assert!(
        log.contains("trace=text at plugins/fault-js/plugin.js:"),
        "{log}"
    );
    assert!(log.contains("trace=handle_text at app.py:"), "{log}");
    // And the host is unharmed.
    assert_eq!(say(&host, "still here", 4).await, "still here");
}

/// `src` with a custom section appended: the same component, other bytes
/// (so another content hash: nothing cached), as a new build would be.
fn unique_copy(src: &Path, dst: &Path, tag: &str) {
    let mut bytes = std::fs::read(src).unwrap();
    let name = b"wxhost-test";
    let payload = tag.as_bytes();
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(payload);
    bytes.push(0); // custom section
    let mut len = section.len();
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        bytes.push(if len == 0 { b } else { b | 0x80 });
        if len == 0 {
            break;
        }
    }
    bytes.extend_from_slice(&section);
    let tmp = dst.with_extension("part");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(tmp, dst).unwrap();
}

#[tokio::test]
async fn while_a_large_component_compiles_the_old_version_and_other_plugins_keep_serving() {
    // `keyword` (Rust, priority 100) answers "ping"; `guest` (priority 50)
    // answers everything else: first echo-js, then fault-js, which answers
    // "count" with "1" where echo-js echoes it.
    let config = "[plugin.keyword]\npriority = 100\n[plugin.keyword.config]\nrules = \"ping=pong\"\n\
                  [plugin.guest]\npriority = 50\n";
    let files = [
        ("keyword".to_owned(), wasm("keyword")),
        ("guest".to_owned(), wasm("echo-js")),
    ];
    let host = Wxhost::start_files(&files, config, &[], true).await;
    assert_eq!(say(&host, "count", 1).await, "count");

    // A new version that is in no cache: it compiles for seconds.
    unique_copy(
        &wasm("fault-js"),
        &host.plugins_dir().join("guest.wasm"),
        &format!("{:?}", Instant::now()),
    );
    let (mut pings, mut old_answers) = (0, 0);
    let mut msg_id = 100;
    let end = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(
            Instant::now() < end,
            "the new version never served:\n{}",
            host.log()
        );
        msg_id += 2;
        assert_eq!(
            say(&host, "ping", msg_id).await,
            "pong",
            "the Rust plugin answers"
        );
        pings += 1;
        match say(&host, "count", msg_id + 1).await.as_str() {
            "count" => old_answers += 1,
            "1" => break,
            other => panic!("neither version: {other}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = host.log();
    assert!(log.contains("plugin guest replaced"), "{log}");
    assert!(
        old_answers >= 3,
        "the old version served only {old_answers} times while the new one compiled:\n{log}"
    );
    assert!(pings > old_answers, "{pings} {old_answers}");
}
