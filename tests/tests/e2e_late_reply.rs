//! Late replies end to end: a plugin that misses the budget but finishes
//! within its own limit reaches the user as a customer-service message,
//! through the fake WeChat API.

use std::time::Duration;
use wxhost::protocol::Mode;
use wxhost::protocol::Push;
use wxhost_tests::fake_wechat::{APP_SECRET, FakeWechat, paths};
use wxhost_tests::service::Wxhost;

#[tokio::test]
async fn late_reply_is_delivered_as_customer_message() {
    let fake = FakeWechat::start().await;
    let base = fake.base_url();
    let host = Wxhost::start(
        &["fixture"],
        "[plugin.fixture]\ntimeout_ms = 4000\n",
        &[
            ("WXHOST_BUDGET_MS", "300"),
            ("WXHOST_API_BASE_URL", &base),
            ("WXHOST_APP_SECRET", APP_SECRET),
        ],
    )
    .await;
    let body = host
        .push(&Push::Text("sleep:800".into()), Mode::Safe, 4242)
        .await;
    assert_eq!(body, "success");
    let sent = fake
        .wait_for_request(paths::CUSTOM_SEND, 0, Duration::from_secs(10))
        .await;
    let log = std::fs::read_to_string(host.dir.path().join("wxhost.log")).unwrap_or_default();
    let sent = sent.unwrap_or_else(|| panic!("no customer message; log:\n{log}"));
    assert_eq!(sent["msgtype"], "text");
    assert_eq!(sent["text"]["content"], "slept 800 ms, call 1");
    assert_eq!(fake.token_fetches(), 1);
    assert!(!log.contains(APP_SECRET));
    for t in fake.valid_tokens() {
        assert!(!log.contains(&t), "token in log");
    }
}

#[tokio::test]
async fn no_late_delivery_when_late_replies_are_off_or_the_reply_was_in_time() {
    let fake = FakeWechat::start().await;
    let base = fake.base_url();
    let config = "[server]\nlate_replies = false\n[plugin.fixture]\ntimeout_ms = 4000\n";
    let host = Wxhost::start(
        &["fixture"],
        config,
        &[
            ("WXHOST_BUDGET_MS", "300"),
            ("WXHOST_API_BASE_URL", &base),
            ("WXHOST_APP_SECRET", APP_SECRET),
        ],
    )
    .await;
    assert_eq!(
        host.push(&Push::Text("sleep:600".into()), Mode::Safe, 1)
            .await,
        "success"
    );
    // In time: answered passively, nothing sent afterwards.
    let body = host
        .push(&Push::Text("reply:text".into()), Mode::Safe, 2)
        .await;
    assert!(body.contains("text reply"), "{body}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(fake.calls(paths::CUSTOM_SEND), 0);
}

#[tokio::test]
async fn with_late_replies_on_each_plugin_keeps_its_own_limit_within_the_budget() {
    // The looping plugin runs first and times out at its own 1 s limit; the
    // next plugin still gets its turn and answers passively, inside the
    // budget (the chain is not cut at the longest plugin limit).
    let fake = FakeWechat::start().await;
    let base = fake.base_url();
    let config = "[plugin.fault_loop]\npriority = 100\ntimeout_ms = 1000\n";
    let host = Wxhost::start(
        &["fault_loop", "echo"],
        config,
        &[
            ("WXHOST_API_BASE_URL", &base),
            ("WXHOST_APP_SECRET", APP_SECRET),
        ],
    )
    .await;
    let started = std::time::Instant::now();
    let body = host.push(&Push::Text("probe".into()), Mode::Safe, 77).await;
    assert!(
        body.contains("<Content><![CDATA[probe]]></Content>"),
        "{body}\n{}",
        host.log()
    );
    assert!(started.elapsed() < Duration::from_millis(4500));
    assert_eq!(fake.calls(paths::CUSTOM_SEND), 0);
}

#[tokio::test]
async fn shutdown_delivers_late_replies_that_finish_within_the_grace_period() {
    let fake = FakeWechat::start().await;
    let base = fake.base_url();
    let mut host = Wxhost::start(
        &["fixture"],
        "[plugin.fixture]\ntimeout_ms = 4000\n",
        &[
            ("WXHOST_BUDGET_MS", "300"),
            ("WXHOST_API_BASE_URL", &base),
            ("WXHOST_APP_SECRET", APP_SECRET),
        ],
    )
    .await;
    let body = host
        .push(&Push::Text("sleep:1500".into()), Mode::Safe, 4310)
        .await;
    assert_eq!(body, "success");
    host.terminate();
    assert!(
        host.wait_exit(Duration::from_secs(15)).await.success(),
        "{}",
        host.log()
    );
    assert_eq!(fake.calls(paths::CUSTOM_SEND), 1, "{}", host.log());
    let log = host.log();
    assert!(log.contains("shutdown: waiting for plugin work"), "{log}");
    assert!(!log.contains("shutdown: dropped"), "{log}");
}

#[tokio::test]
async fn shutdown_abandons_late_replies_after_its_grace_period_and_says_which() {
    let fake = FakeWechat::start().await;
    let base = fake.base_url();
    let config = "[server]\nshutdown_grace_secs = 1\n[plugin.fixture]\ntimeout_ms = 8000\n";
    let mut host = Wxhost::start(
        &["fixture"],
        config,
        &[
            ("WXHOST_BUDGET_MS", "300"),
            ("WXHOST_API_BASE_URL", &base),
            ("WXHOST_APP_SECRET", APP_SECRET),
        ],
    )
    .await;
    let body = host
        .push(&Push::Text("sleep:6000".into()), Mode::Safe, 4343)
        .await;
    assert_eq!(body, "success");
    let stopping = std::time::Instant::now();
    host.terminate();
    let status = host.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{}", host.log());
    // The 1 s grace, not the plugin's 6 s (nor the default 10 s grace).
    assert!(
        stopping.elapsed() < Duration::from_secs(4),
        "exited after {:?}",
        stopping.elapsed()
    );
    let log = host.log();
    let summary = log
        .lines()
        .find(|l| l.contains("shutdown: grace period over"))
        .unwrap_or_else(|| panic!("no summary line:\n{log}"));
    for field in ["pieces=1", "late_replies=1", "grace_secs=1"] {
        assert!(summary.contains(field), "missing {field} in {summary}");
    }
    let dropped = log
        .lines()
        .find(|l| l.contains("shutdown: dropped late reply"))
        .unwrap_or_else(|| panic!("no dropped line:\n{log}"));
    for field in [
        "msg_id=4343",
        "plugin=\"fixture\"",
        "phase=\"late_reply\"",
        "kind=text",
    ] {
        assert!(dropped.contains(field), "missing {field} in {dropped}");
    }
    assert_eq!(fake.calls(paths::CUSTOM_SEND), 0);
}
