//! access_token against the fake WeChat API: single flight, persistence,
//! refresh ahead of expiry, self-healing on rejected tokens, busy backoff,
//! quota errors, and secrets staying out of output.

use std::sync::Arc;
use std::time::Duration;

use wxhost::api::client::RetryPolicy;
use wxhost::api::{ApiError, ApiOptions, Wechat};
use wxhost::store::{StoredToken, Stores, now_secs, quota_day};
use wxhost_tests::fake_wechat::{APP_ID, APP_SECRET, FakeWechat, fast_options, paths};

fn memory_store() -> Stores {
    Stores::in_memory().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_callers_cause_one_fetch() {
    let fake = FakeWechat::start().await;
    // Slow token endpoint: every caller arrives while the fetch is in flight.
    fake.set_latency(paths::STABLE_TOKEN, Duration::from_millis(200));
    let wechat = Arc::new(fake.wechat(memory_store()));
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let w = wechat.clone();
            tokio::spawn(async move { w.user_info(&format!("openid-{i}")).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap().subscribed);
    }
    assert_eq!(fake.token_fetches(), 1);
    assert_eq!(fake.calls(paths::USER_INFO), 100);
    assert_eq!(wechat.tokens().status().await.unwrap().fetches_today, 1);
}

#[tokio::test]
async fn a_restart_reuses_the_stored_token() {
    let fake = FakeWechat::start().await;
    let dir = tempfile::tempdir().unwrap();
    {
        let w = fake.wechat(Stores::sqlite(dir.path()).unwrap());
        w.user_info("o1").await.unwrap();
    }
    // A new process (or a CLI command) on the same data dir.
    let w = fake.wechat(Stores::sqlite(dir.path()).unwrap());
    w.user_info("o1").await.unwrap();
    assert_eq!(fake.token_fetches(), 1);
    assert_eq!(fake.calls(paths::USER_INFO), 2);
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once_and_the_call_retried() {
    let fake = FakeWechat::start().await;
    let w = fake.wechat(memory_store());
    w.user_info("o").await.unwrap();
    let first = w.tokens().status().await.unwrap().fingerprint;

    // 42001: WeChat expired the token early.
    fake.expire_tokens();
    w.user_info("o").await.unwrap();
    assert_eq!(fake.token_fetches(), 2);
    assert_eq!(
        fake.calls(paths::USER_INFO),
        3,
        "first call, rejected call, retry"
    );
    assert_ne!(w.tokens().status().await.unwrap().fingerprint, first);

    // 40001 once: one refresh, one retry.
    fake.fail_next(paths::USER_INFO, 40001, 1);
    w.user_info("o").await.unwrap();
    assert_eq!((fake.token_fetches(), fake.calls(paths::USER_INFO)), (3, 5));

    // 40014 forever: exactly one retry, then the error. Never a loop.
    fake.fail_next(paths::USER_INFO, 40014, 10);
    let e = w.user_info("o").await.unwrap_err();
    assert!(matches!(e, ApiError::Wechat { code: 40014, .. }), "{e}");
    assert_eq!((fake.token_fetches(), fake.calls(paths::USER_INFO)), (4, 7));
}

#[tokio::test]
async fn another_process_refreshing_is_picked_up_without_a_fetch() {
    // Two processes sharing a store, on the classic endpoint (where each
    // fetch invalidates the previous token).
    let fake = FakeWechat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let classic = "[wechat]\ntoken_endpoint = \"classic\"\n";
    let a = fake.wechat_with(Stores::sqlite(dir.path()).unwrap(), fast_options(), classic);
    let b = fake.wechat_with(Stores::sqlite(dir.path()).unwrap(), fast_options(), classic);
    a.user_info("o").await.unwrap();
    b.user_info("o").await.unwrap();
    assert_eq!(fake.calls(paths::TOKEN), 1);
    b.tokens().refresh(false).await.unwrap(); // invalidates a's cached token
    a.user_info("o").await.unwrap(); // 42001 → drops only its own stale token, reads b's
    assert_eq!(fake.calls(paths::TOKEN), 2);
    assert_eq!(fake.calls(paths::STABLE_TOKEN), 0);
    let q = &fake.requests(paths::TOKEN)[0];
    assert_eq!(
        (q["appid"].as_str(), q["grant_type"].as_str()),
        (Some(APP_ID), Some("client_credential"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_sharing_a_store_fetch_once_under_its_lock() {
    // Three "processes" (each its own store connection and facade) asking at
    // once while the fetch is slow: one fetches, the others wait for the
    // value it stores instead of fetching (and, on the classic endpoint,
    // invalidating) their own.
    let fake = FakeWechat::start().await;
    fake.set_latency(paths::TOKEN, Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let classic = "[wechat]\ntoken_endpoint = \"classic\"\n";
    let facades: Vec<Arc<Wechat>> = (0..3)
        .map(|_| {
            Arc::new(fake.wechat_with(Stores::sqlite(dir.path()).unwrap(), fast_options(), classic))
        })
        .collect();
    let mut calls = Vec::new();
    for w in &facades {
        for _ in 0..30 {
            let w = w.clone();
            calls.push(tokio::spawn(async move { w.tokens().get().await.unwrap() }));
        }
    }
    let mut tokens = Vec::new();
    for c in calls {
        tokens.push(c.await.unwrap());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "everyone got the same token");
    assert_eq!(fake.calls(paths::TOKEN), 1);
    assert_eq!(facades[0].tokens().status().await.unwrap().fetches_today, 1);
}

#[tokio::test]
async fn busy_answers_are_retried_with_backoff() {
    let fake = FakeWechat::start().await;
    let w = fake.wechat(memory_store());
    fake.fail_next(paths::USER_INFO, -1, 2);
    let started = std::time::Instant::now();
    w.user_info("o").await.unwrap();
    assert_eq!(fake.calls(paths::USER_INFO), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(15),
        "5 ms then 10 ms of backoff"
    );

    // Busy beyond the attempts: the error, after exactly 3 calls.
    fake.fail_next(paths::USER_INFO, -1, 5);
    let e = w.user_info("o").await.unwrap_err();
    assert!(matches!(e, ApiError::Wechat { code: -1, .. }), "{e}");
    assert_eq!(fake.calls(paths::USER_INFO), 6);

    // The token endpoint too.
    let fake = FakeWechat::start().await;
    fake.fail_next(paths::STABLE_TOKEN, -1, 1);
    fake.wechat(memory_store()).tokens().get().await.unwrap();
    assert_eq!(fake.calls(paths::STABLE_TOKEN), 2);
}

#[tokio::test]
async fn quota_is_a_clear_error_and_never_retried() {
    let fake = FakeWechat::start().await;
    let w = fake.wechat(memory_store());
    fake.fail_next(paths::CUSTOM_SEND, 45009, 1);
    let e = w
        .send_custom("o", &wxhost::api::CustomerMessage::Text("hi".into()))
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::QuotaExceeded(_)), "{e}");
    assert!(e.to_string().contains("45009"), "{e}");
    assert_eq!(fake.calls(paths::CUSTOM_SEND), 1);

    let fake = FakeWechat::start().await;
    fake.fail_next(paths::STABLE_TOKEN, 45009, 1);
    let e = fake
        .wechat(memory_store())
        .tokens()
        .get()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ApiError::QuotaExceeded(m) if m.contains("access_token")),
        "{e}"
    );
    assert_eq!(fake.calls(paths::STABLE_TOKEN), 1);

    // Configuration errors such as the IP whitelist are not retried either.
    fake.fail_next(paths::USER_INFO, 40164, 1);
    let w = fake.wechat(memory_store());
    let e = w.user_info("o").await.unwrap_err();
    assert!(
        matches!(&e, ApiError::Wechat { code: 40164, message } if message.contains("whitelist")),
        "{e}"
    );
    assert_eq!(fake.calls(paths::USER_INFO), 1);
}

#[tokio::test]
async fn tokens_are_refreshed_ahead_of_expiry() {
    let fake = FakeWechat::start().await;
    let store = memory_store();
    let token = fake.wechat(store.clone()).tokens().get().await.unwrap();
    assert_eq!(fake.token_fetches(), 1);

    // 1000 s left: reused. 100 s left (under the 300 s margin): refreshed.
    let put = |left: i64| {
        let (store, token) = (store.tokens.clone(), token.clone());
        async move {
            store
                .put(
                    APP_ID,
                    &StoredToken {
                        token,
                        expires_at: now_secs() + left,
                        fetched_at: now_secs(),
                    },
                    "test",
                )
                .await
                .unwrap()
        }
    };
    put(1000).await;
    fake.wechat(store.clone()).tokens().get().await.unwrap();
    assert_eq!(fake.token_fetches(), 1);
    put(100).await;
    fake.wechat(store.clone()).tokens().get().await.unwrap();
    assert_eq!(fake.token_fetches(), 2);

    // A failed refresh while the token is still valid keeps using it.
    put(100).await;
    fake.fail_next(paths::STABLE_TOKEN, 45009, 1);
    assert_eq!(
        fake.wechat(store.clone()).tokens().get().await.unwrap(),
        token
    );
    assert_eq!(fake.token_fetches(), 3);
}

#[tokio::test]
async fn status_and_errors_never_reveal_secrets() {
    let fake = FakeWechat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake.config(dir.path());
    let mut out = Vec::new();
    wxhost::cli::token::TokenCommand::Status
        .run(&config, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("none stored") && text.contains("fetches today:  0"),
        "{text}"
    );

    let mut out = Vec::new();
    wxhost::cli::token::TokenCommand::Refresh { force: false }
        .run(&config, &mut out)
        .await
        .unwrap();
    let mut out = Vec::new();
    wxhost::cli::token::TokenCommand::Status
        .run(&config, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let token = fake.valid_tokens().pop().unwrap();
    assert!(
        !text.contains(&token) && !text.contains(APP_SECRET),
        "{text}"
    );
    assert!(
        text.contains("fingerprint")
            && text.contains("fetches today:  1")
            && text.contains(&quota_day(now_secs())),
        "{text}"
    );
    assert!(text.contains("uses the stored token"), "{text}");

    // Transport errors carry no URL (it would hold the secret or the token).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let env = vec![
        ("WXHOST_API_BASE_URL".to_owned(), format!("http://{closed}")),
        ("WXHOST_APP_SECRET".to_owned(), APP_SECRET.to_owned()),
    ];
    let config =
        wxhost::config::Config::from_toml("t", "[wechat]\ntoken_endpoint = \"classic\"\n", &env)
            .unwrap();
    let w = Wechat::with_options(
        &config.wechat,
        &memory_store(),
        ApiOptions {
            retry: RetryPolicy {
                busy_attempts: 1,
                busy_base_delay: Duration::ZERO,
            },
            ..ApiOptions::default()
        },
    )
    .unwrap();
    let e = w.tokens().get().await.unwrap_err().to_string();
    assert!(
        e.contains("/cgi-bin/token") && !e.contains(APP_SECRET) && !e.contains("secret="),
        "{e}"
    );
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_error_without_a_call() {
    let fake = FakeWechat::start().await;
    let env = vec![("WXHOST_API_BASE_URL".to_owned(), fake.base_url())];
    let config = wxhost::config::Config::from_toml("t", "", &env).unwrap();
    let w = Wechat::new(&config.wechat, &memory_store()).unwrap();
    let e = w.user_info("o").await.unwrap_err().to_string();
    assert!(e.contains("WXHOST_APP_SECRET"), "{e}");
    assert_eq!(fake.total_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_that_give_up_leave_one_fetch_that_completes_and_is_stored() {
    // The classic endpoint: a fetch cut off halfway would have burnt quota
    // and retired the previous token without storing the new one.
    let fake = FakeWechat::start().await;
    fake.set_latency(paths::TOKEN, Duration::from_millis(300));
    let store = memory_store();
    let classic = "[wechat]\ntoken_endpoint = \"classic\"\n";
    let wechat = Arc::new(fake.wechat_with(store.clone(), fast_options(), classic));

    // Five callers whose deadline passes while the fetch is in flight, and
    // one that waits.
    let impatient: Vec<_> = (0..5)
        .map(|_| {
            let w = wechat.clone();
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_millis(50), w.tokens().get()).await
            })
        })
        .collect();
    for t in impatient {
        assert!(t.await.unwrap().is_err(), "gave up before the answer");
    }
    let patient = wechat.tokens().get().await.unwrap();

    assert_eq!(fake.calls(paths::TOKEN), 1, "exactly one fetch");
    assert_eq!(fake.valid_tokens(), vec![patient.clone()]);
    let stored = store.tokens.get(APP_ID).await.unwrap().expect("stored");
    assert_eq!(stored.token, patient);
    assert_eq!(wechat.tokens().status().await.unwrap().fetches_today, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_whose_only_caller_gave_up_still_completes_and_is_stored() {
    let fake = FakeWechat::start().await;
    fake.set_latency(paths::STABLE_TOKEN, Duration::from_millis(300));
    let store = memory_store();
    let wechat = fake.wechat(store.clone());
    let gave_up = tokio::time::timeout(Duration::from_millis(50), wechat.tokens().get()).await;
    assert!(gave_up.is_err());

    // Nobody waits any more; the fetch finishes and lands in the store.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let stored = loop {
        if let Some(t) = store.tokens.get(APP_ID).await.unwrap() {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned fetch was never stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(fake.valid_tokens(), vec![stored.token.clone()]);
    // The next caller uses it without fetching again.
    assert_eq!(wechat.tokens().get().await.unwrap(), stored.token);
    assert_eq!(fake.token_fetches(), 1);
}
