//! Plugins and the outbound queue (WIT 1.1): a plugin granted `outbound`
//! queues a template job for the account it is acting for, reads its state
//! back, and the host delivers it once; without the grant it is refused;
//! the `typing` status goes out under `customer-message`. Components built
//! for 1.0 (which import neither interface) keep running beside it.

use std::time::{Duration, Instant};

use wxhost::protocol::{Mode, Push, Reply};
use wxhost_tests::fake_wechat::{FakeWechat, paths};
use wxhost_tests::service::Wxhost;

fn text_of(xml: &str) -> String {
    match wxhost::protocol::parse_reply(xml).unwrap().reply {
        Reply::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

async fn say(host: &Wxhost, text: &str, msg_id: u64) -> String {
    text_of(
        &host
            .push(&Push::Text(text.into()), Mode::Safe, msg_id)
            .await,
    )
}

#[tokio::test]
async fn a_plugin_queues_a_template_job_reads_its_state_and_it_is_delivered_once() {
    let fake = FakeWechat::start().await;
    let config = "[plugin.fixture]\ncapabilities = [\"outbound\", \"customer-message\"]\n";
    let host = Wxhost::start_against(&fake, &["fixture"], config, &[]).await;

    let queued = say(&host, "api:enqueue:TPL_ORDER", 1).await;
    let id: i64 = queued
        .strip_prefix("queued ")
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("{queued}\n{}", host.log()));
    // The same message again (its key): the same job, nothing added.
    assert_eq!(say(&host, "api:enqueue:TPL_ORDER", 1).await, queued);

    // It reaches the user once, with the account's token.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let state = say(&host, &format!("api:job:{id}"), rand::random()).await;
        if state.starts_with(&format!("job {id} sent")) {
            break;
        }
        assert!(Instant::now() < until, "{state}\n{}", host.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = fake.deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].to, "o_test_user");
    assert_eq!(deliveries[0].template_id.as_deref(), Some("TPL_ORDER"));
    assert_eq!(say(&host, "api:job:999999", 3).await, "no such job");

    // Typing goes to WeChat for the user the plugin is talking to.
    assert_eq!(say(&host, "api:typing", 4).await, "typing");
    assert_eq!(fake.calls(paths::CUSTOM_TYPING), 1);
}

#[tokio::test]
async fn without_the_grant_a_plugin_cannot_queue_and_a_1_0_component_still_runs() {
    let fake = FakeWechat::start().await;
    let released = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/wit-1.0/echo.wasm"
    ));
    let files = vec![
        ("fixture".to_owned(), wxhost_tests::service::wasm("fixture")),
        ("echo10".to_owned(), released),
    ];
    let config = "[plugin.fixture]\npriority = 10\n";
    let host = Wxhost::start_files_against(&fake, &files, config, &[]).await;
    let refused = say(&host, "api:enqueue:TPL_ORDER", 1).await;
    assert!(
        refused.starts_with("refused: capability `outbound` is not granted"),
        "{refused}"
    );
    assert!(say(&host, "api:typing", 2).await.starts_with("refused -2"));
    assert_eq!(fake.deliveries().len(), 0);
    assert_eq!(fake.calls(paths::CUSTOM_TYPING), 0);
    // The echo as released for 1.0 answers what the fixture passes on.
    assert_eq!(say(&host, "hello from 1.0", 3).await, "hello from 1.0");
}
