//! Several `wxhost serve` processes on one Redis (a real `redis-server` on a
//! free loopback port) with the fake WeChat: one token fetch for all of
//! them, a push reaching two instances at once runs the plugins once and
//! every instance answers with the same reply, plugin kv is shared, the
//! last permanent QR slot goes to one instance, a dead claimant's push is
//! processed by the delivery waiting on it, and Redis dying under load costs no push
//! its answer.

use std::time::{Duration, Instant};

use wxhost::api::{
    ApiOptions,
    qrcode::{QrCreate, QrKind, Scene},
};
use wxhost::protocol::{self, Mode, Push, signed_request};
use wxhost_tests::fake_wechat::{APP_SECRET, FakeWechat, fast_options, paths};
use wxhost_tests::redis_server::RedisServer;
use wxhost_tests::service::{TOKEN, Wxhost, binary};

const FIXTURE_CONFIG: &str = "[plugin.fixture]\ncapabilities = [\"user-info\"]\n";

/// For the 300-call token test: what it proves is one token fetch across
/// instances, not latency, so a call waiting on another instance's fetch on a
/// loaded machine gets the reply budget rather than the default 1 s limit
/// (with 1 s it was answered `success` under CI load).
const PATIENT_FIXTURE_CONFIG: &str =
    "[plugin.fixture]\ncapabilities = [\"user-info\"]\ntimeout_ms = 4000\n";

/// Starts `n` instances of `wxhost serve` with `plugins` on `redis` (under
/// `prefix`) and the fake WeChat.
async fn instances(
    n: usize,
    redis: &RedisServer,
    prefix: &str,
    fake: &FakeWechat,
    plugins: &[&str],
    config: &str,
    extra: &[(&str, &str)],
) -> Vec<Wxhost> {
    let base = fake.base_url();
    let mut env: Vec<(String, String)> = redis.env(prefix);
    env.push(("WXHOST_API_BASE_URL".into(), base));
    env.push(("WXHOST_APP_SECRET".into(), APP_SECRET.into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut hosts = Vec::new();
    for _ in 0..n {
        hosts.push(Wxhost::start(plugins, config, &env).await);
    }
    hosts
}

/// The reply's plaintext without its `CreateTime` (set when each delivery's
/// answer is sealed).
fn content(host: &Wxhost, body: &str) -> String {
    let xml = host.open(body, Mode::Safe);
    match (xml.find("<CreateTime>"), xml.find("</CreateTime>")) {
        (Some(a), Some(b)) => format!("{}{}", &xml[..a], &xml[b + "</CreateTime>".len()..]),
        _ => xml,
    }
}

fn text_push(text: &str, msg_id: u64) -> String {
    Push::Text(text.into()).to_xml("gh_test", "o_test_user", wxhost::unix_now(), msg_id)
}

/// The same signed request (query and body) at another instance.
fn at(host: &Wxhost, url: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    format!("{}?{query}", host.url)
}

#[tokio::test]
async fn three_instances_fetch_the_access_token_once_for_300_concurrent_api_calls() {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    // A hundred connections per instance from one address: past the
    // per-client cap unless it is lifted (as behind a load balancer).
    let hosts = instances(
        3,
        &redis,
        "t1:",
        &fake,
        &["fixture"],
        PATIENT_FIXTURE_CONFIG,
        &[("WXHOST_MAX_CONNECTIONS_PER_CLIENT", "0")],
    )
    .await;
    let mut calls = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        for j in 0..100u64 {
            let msg_id = 1_000 + i as u64 * 1_000 + j;
            calls.push(host.spawn_post_xml(&text_push("api:user", msg_id), Mode::Safe));
        }
    }
    for (i, call) in calls.into_iter().enumerate() {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let reply = hosts[i / 100].open(&body, Mode::Safe);
        assert!(
            reply.contains("user o_test_user subscribed true"),
            "{reply}\n{}",
            hosts[i / 100].log()
        );
    }
    assert_eq!(fake.token_fetches(), 1, "one fetch for every instance");
    for host in &hosts {
        let log = host.log();
        assert!(!log.contains(APP_SECRET), "secret in log");
        for t in fake.valid_tokens() {
            assert!(!log.contains(&t), "token in log");
        }
    }
}

#[tokio::test]
async fn a_push_sent_to_two_instances_at_once_runs_the_plugin_once_and_every_instance_answers_alike()
 {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    let hosts = instances(3, &redis, "t2:", &fake, &["fixture"], "", &[]).await;
    let (a, b, c) = (&hosts[0], &hosts[1], &hosts[2]);
    let xml = text_push("sleep:300", 4242);
    let (url, body) = signed_request(
        &a.url,
        TOKEN,
        Some(&a.crypt),
        Mode::Safe,
        &xml,
        wxhost::unix_now(),
    );
    let url_b = at(b, &url);
    let (first, second) = tokio::join!(
        a.post_raw(&url, body.clone()),
        b.post_raw(&url_b, body.clone())
    );
    assert_eq!((first.0, second.0), (200, 200));
    // Later, the same request to a third instance, and WeChat's retry of
    // the message under a new query (new nonce and signature).
    let third = c.post_raw(&at(c, &url), body.clone()).await;
    let (retry_url, retry_body) = signed_request(
        &c.url,
        TOKEN,
        Some(&c.crypt),
        Mode::Safe,
        &xml,
        wxhost::unix_now(),
    );
    let fourth = c.post_raw(&retry_url, retry_body).await;
    let replies = [
        content(a, &first.1),
        content(b, &second.1),
        content(c, &third.1),
        content(c, &fourth.1),
    ];
    assert!(
        replies[0].contains("slept 300 ms, call 1"),
        "{}",
        replies[0]
    );
    for r in &replies[1..] {
        assert_eq!(r, &replies[0], "every delivery answers with the same reply");
    }
    // The plugin's own counter: it ran once, on whichever instance claimed it.
    let count = c
        .push(&Push::Text("kv:get:calls:4242".into()), Mode::Safe, 1)
        .await;
    assert!(count.contains("value 1"), "{count}");
}

#[tokio::test]
async fn kv_written_through_one_instance_is_read_through_another_and_by_plugin_run() {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    let hosts = instances(2, &redis, "t3:", &fake, &["fixture"], "", &[]).await;
    let set = hosts[0]
        .push(&Push::Text("kv:set:color=blue".into()), Mode::Safe, 1)
        .await;
    assert!(set.contains("set color"), "{set}");
    let got = hosts[1]
        .push(&Push::Text("kv:get:color".into()), Mode::Safe, 2)
        .await;
    assert!(got.contains("value blue"), "{got}");
    // `plugin run` uses the configured backend too: the same entries.
    let out = std::process::Command::new(binary())
        .args(["plugin", "run"])
        .arg(wxhost_tests::service::wasm("fixture"))
        .args(["--text", "kv:get:color"])
        .envs(redis.env("t3:"))
        .env("WXHOST_DATA_DIR", hosts[1].dir.path().join("cli-data"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("value blue"), "{stdout}");
}

#[tokio::test]
async fn two_instances_racing_for_the_last_permanent_qr_code_slot_one_wins() {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    // Two instances' API clients, each on its own Redis connection, with
    // a quota of 2 of which 1 is taken.
    let options = ApiOptions {
        permanent_qr_limit: 2,
        ..fast_options()
    };
    let a = fake.wechat_with(redis.stores("t4:"), options.clone(), "");
    let b = fake.wechat_with(redis.stores("t4:"), options, "");
    let create = |scene: &str| QrCreate {
        scene: Scene::Str(scene.into()),
        kind: QrKind::Permanent,
        note: None,
    };
    a.create_qrcode(&create("taken")).await.unwrap();
    fake.reset_counts();
    let (from_a, from_b) = (create("from-a"), create("from-b"));
    let (ra, rb) = tokio::join!(a.create_qrcode(&from_a), b.create_qrcode(&from_b));
    let won = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{ra:?} {rb:?}");
    let lost = if ra.is_ok() { rb } else { ra };
    assert!(
        lost.unwrap_err().to_string().contains("quota"),
        "the loser is told the quota is reached"
    );
    assert_eq!(
        fake.calls(paths::QRCODE_CREATE),
        1,
        "no call past the quota"
    );
    assert_eq!(
        redis.stores("t4:").qrcodes.permanent_count().await.unwrap(),
        2
    );
}

#[tokio::test]
async fn a_push_whose_claiming_instance_died_is_processed_by_the_delivery_waiting_on_it() {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    let mut hosts = instances(
        2,
        &redis,
        "t5:",
        &fake,
        &["fixture"],
        "[plugin.fixture]\ntimeout_ms = 1900\n",
        &[],
    )
    .await;
    let xml = text_push("sleep:1000", 77);
    let (url, body) = signed_request(
        &hosts[0].url,
        TOKEN,
        Some(&hosts[0].crypt),
        Mode::Safe,
        &xml,
        wxhost::unix_now(),
    );
    let first = tokio::spawn({
        let (url, body) = (url.clone(), body.clone());
        async move {
            reqwest::Client::new()
                .post(url)
                .body(body)
                .send()
                .await
                .is_ok()
        }
    });
    // A started (its plugin counted the call); the same request reaches B
    // while A runs (WeChat retries at once when a connection drops), then A
    // dies mid-run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = hosts[1].spawn_post_raw(&at(&hosts[1], &url), body.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    hosts[0].kill();
    let _ = first.await;
    // A's claim is a lease A no longer renews: it runs out well inside B's
    // budget, and B processes the message (the plugin's second run) instead
    // of answering `success` with nothing run.
    let (status, reply) = waiting.await.unwrap();
    assert_eq!(status, 200);
    let b = &hosts[1];
    let reply = b.open(&reply, Mode::Safe);
    assert!(
        reply.contains("slept 1000 ms, call 2"),
        "{reply}\n{}",
        b.log()
    );
    // WeChat's next retry gets the same answer; the plugin does not run again.
    let (status, again) = b.post_raw(&at(b, &url), body).await;
    assert_eq!(status, 200);
    assert!(
        b.open(&again, Mode::Safe).contains("slept 1000 ms, call 2"),
        "{}",
        b.log()
    );
}

#[tokio::test]
async fn with_redis_killed_and_restarted_under_load_every_push_is_answered_in_time_and_the_service_recovers()
 {
    let mut redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    let hosts = instances(2, &redis, "t6:", &fake, &["fixture"], "", &[]).await;
    let started = Instant::now();
    let budget = Duration::from_millis(4500);
    let load = {
        let targets: Vec<(String, wxhost::protocol::MsgCrypt)> = hosts
            .iter()
            .map(|h| (h.url.clone(), h.crypt.clone()))
            .collect();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut results = Vec::new();
            let mut msg_id = 10_000u64;
            // ~8 s of pushes, 8 at a time, alternating instances.
            while started.elapsed() < Duration::from_secs(8) {
                let mut batch = Vec::new();
                for k in 0..8 {
                    msg_id += 1;
                    let (base, crypt) = &targets[k % targets.len()];
                    let (url, body) = signed_request(
                        base,
                        TOKEN,
                        Some(crypt),
                        Mode::Safe,
                        &text_push("kv:incr:hits", msg_id),
                        wxhost::unix_now(),
                    );
                    let (http, crypt) = (http.clone(), crypt.clone());
                    batch.push(tokio::spawn(async move {
                        let t = Instant::now();
                        let r = http.post(url).body(body).send().await.expect("answered");
                        let status = r.status().as_u16();
                        let text = r.text().await.unwrap_or_default();
                        let reply = protocol::open_reply(TOKEN, &crypt, &text).unwrap_or(text);
                        (status, t.elapsed(), reply, started.elapsed())
                    }));
                }
                for b in batch {
                    results.push(b.await.unwrap());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            results
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis.kill();
    // A write that cannot be made is an error to the caller, never dropped.
    let out = std::process::Command::new(binary())
        .args(["menu", "history"])
        .envs(redis.env("t6:"))
        .env("WXHOST_DATA_DIR", hosts[0].dir.path().join("cli-data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unavailable"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let restarted_at = started.elapsed();
    redis.restart().await;
    let results = load.await.unwrap();
    assert!(results.len() > 50, "{} pushes", results.len());
    let (mut errors, mut counted_after) = (0, 0);
    for (status, latency, reply, at) in &results {
        assert_eq!(*status, 200, "{reply}");
        assert!(*latency < budget, "answered after {latency:?}");
        if reply.contains("kv error") {
            errors += 1;
        }
        if reply.contains("count ") && *at > restarted_at + Duration::from_secs(2) {
            counted_after += 1;
        }
    }
    assert!(
        errors > 0,
        "while Redis was down the plugin got an error value"
    );
    assert!(counted_after > 0, "kv works again without a restart");
    for host in &hosts {
        let log = host.log();
        assert_eq!(
            log.matches("redis unreachable: pushes are still answered")
                .count(),
            1,
            "{log}"
        );
        assert_eq!(log.matches("redis answers again").count(), 1, "{log}");
        assert!(!log.contains("kv-incr failed"), "no kv warning per push");
    }
}

#[tokio::test]
async fn store_migrate_copies_sqlite_to_redis_and_back_and_refuses_a_store_that_holds_data() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    {
        let s = wxhost::store::Stores::sqlite(&first).unwrap();
        let q = wxhost::store::KvQuota::DEFAULT;
        s.kv.set("echo", "k", b"v", q).await.unwrap();
        s.kv.incr("welcome", "n", 3, q).await.unwrap();
        let id = s
            .menus
            .insert("{\"button\":[]}", Some("spring"))
            .await
            .unwrap();
        s.menus.mark_published(id, &[]).await.unwrap();
        s.menus.insert("{\"button\":[1]}", None).await.unwrap();
        let code = wxhost::store::QrCode {
            scene: "promo".into(),
            ticket: "gQ+/=".into(),
            url: "http://weixin.qq.com/q/x".into(),
            permanent: true,
            expires_at: None,
            note: Some("poster".into()),
            created_at: 1_700_000_000,
        };
        s.qrcodes.insert(&code, Some(10)).await.unwrap();
        s.tokens
            .put(
                "wxb11529c136998cb6",
                &wxhost::store::StoredToken {
                    token: "secret-token".into(),
                    expires_at: wxhost::store::now_secs() + 3600,
                    fetched_at: wxhost::store::now_secs(),
                },
                "2024-05-01",
            )
            .await
            .unwrap();
        s.sessions
            .put("web-session", "sid", b"alice", Duration::from_secs(600))
            .await
            .unwrap();
        // Realms of other name lengths beside it (Redis orders sessions by
        // key, `session:<len>:<realm>:<id>`; SQLite by realm and id), and
        // reservations: the verification compares sets, not orders.
        s.sessions
            .put("admin-session", "a1", b"op", Duration::from_secs(600))
            .await
            .unwrap();
        s.sessions
            .put("oauth-state", "z9", b"", Duration::from_secs(600))
            .await
            .unwrap();
        s.sessions
            .put("web-session", "aaa", b"bob", Duration::from_secs(600))
            .await
            .unwrap();
        for scene in ["r2", "r1"] {
            s.qrcodes
                .reserve_permanent(scene, 10, wxhost::store::now_secs())
                .await
                .unwrap();
        }
        // A runtime account (its record, credentials sealed) with data in
        // its own scope.
        s.accounts
            .put(&wxhost::store::StoredAccount {
                name: "pop".into(),
                settings: "{\"app_id\":\"wxpop\"}".into(),
                secrets: vec![7, 8, 9],
                updated_ms: 1_700_000_000_000,
            })
            .await
            .unwrap();
        let pop = s.for_account("pop").unwrap();
        pop.kv.set("echo", "k", b"pop's", q).await.unwrap();
        pop.menus.insert("{\"button\":[2]}", None).await.unwrap();
        // Two published versions of one plugin (the second current).
        for (version, blob) in [("1.0.0", &b"v1"[..]), ("1.1.0", &b"v2"[..])] {
            let m = wxhost::store::PluginManifest {
                id: "bot".into(),
                version: version.into(),
                digest: wxhost::store::published::digest(blob),
                who: "api@test".into(),
                when_ms: 1,
            };
            s.published.publish(&m, blob).await.unwrap();
        }
    }
    let migrate = |data: &std::path::Path, from: &str, to: &str| {
        std::process::Command::new(binary())
            .args(["store", "migrate", "--from", from, "--to", to])
            .envs(redis.env("t7:"))
            .env("WXHOST_DATA_DIR", data)
            .output()
            .unwrap()
    };
    let out = migrate(&first, "sqlite", "redis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("kv entries       2 copied, 2 in the destination"),
        "{stdout}"
    );
    assert!(
        stdout.contains("menu versions    2 copied, 2 in the destination"),
        "{stdout}"
    );
    assert!(
        stdout.contains("plugin versions  2 copied, 2 in the destination"),
        "{stdout}"
    );
    assert!(stdout.contains("verified"), "{stdout}");
    assert!(stdout.contains("runtime accounts 1 copied"), "{stdout}");
    assert!(stdout.contains("account pop:"), "{stdout}");
    assert!(!stdout.contains("secret-token"));
    // Again: the destination is no longer empty.
    let again = migrate(&first, "sqlite", "redis");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));
    // And back into a fresh SQLite store: the same as the original.
    let out = migrate(&second, "redis", "sqlite");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = (
        wxhost::store::Stores::sqlite(&first).unwrap(),
        wxhost::store::Stores::sqlite(&second).unwrap(),
    );
    // Every account's scope came across, and the runtime account itself.
    assert_eq!(
        a.accounts.list().await.unwrap(),
        b.accounts.list().await.unwrap()
    );
    let (pa, pb) = (a.for_account("pop").unwrap(), b.for_account("pop").unwrap());
    assert_eq!(pb.kv.export().await.unwrap().len(), 1);
    assert_eq!(pa.kv.export().await.unwrap(), pb.kv.export().await.unwrap());
    assert_eq!(
        pa.menus.history().await.unwrap(),
        pb.menus.history().await.unwrap()
    );
    assert_ne!(
        a.kv.export().await.unwrap(),
        pb.kv.export().await.unwrap(),
        "the scopes stay apart"
    );
    assert_eq!(a.kv.export().await.unwrap(), b.kv.export().await.unwrap());
    assert_eq!(
        a.tokens.export().await.unwrap(),
        b.tokens.export().await.unwrap()
    );
    assert_eq!(
        a.menus.history().await.unwrap(),
        b.menus.history().await.unwrap()
    );
    assert_eq!(
        a.qrcodes.list(10).await.unwrap(),
        b.qrcodes.list(10).await.unwrap()
    );
    assert_eq!(
        a.published.history("bot").await.unwrap(),
        b.published.history("bot").await.unwrap()
    );
    let current = b.published.current().await.unwrap();
    assert_eq!(current[0].version, "1.1.0");
    assert_eq!(
        b.published
            .blob(&current[0].digest)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"v2"[..])
    );
    assert_eq!(
        b.sessions
            .get("web-session", "sid")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"alice"[..])
    );
}

#[tokio::test]
async fn serve_starts_while_redis_is_down_answers_pushes_and_recovers_when_it_comes() {
    let mut redis = RedisServer::start().await;
    redis.kill();
    let fake = FakeWechat::start().await;
    let hosts = instances(1, &redis, "t9:", &fake, &["fixture"], FIXTURE_CONFIG, &[]).await;
    let host = &hosts[0];
    // Answered; the plugin's kv call gets an error value, not a stall.
    let (status, body) = host
        .post_xml(&text_push("kv:incr:n", 90_001), Mode::Safe)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(content(host, &body).contains("kv error"), "{body}");
    assert!(
        host.log()
            .contains("could not be read: every plugin in the directory is loaded"),
        "{}",
        host.log()
    );
    redis.restart().await;
    // The plugin's kv works again without a restart of wxhost.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut msg_id = 90_002;
    loop {
        let (status, body) = host
            .post_xml(&text_push("kv:incr:n", msg_id), Mode::Safe)
            .await;
        assert_eq!(status, 200, "{body}");
        if content(host, &body).contains("count ") {
            break;
        }
        assert!(Instant::now() < deadline, "kv never came back: {body}");
        msg_id += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn kv_get_while_redis_is_down_traps_the_call_instead_of_reading_absent() {
    let mut redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    let hosts = instances(1, &redis, "t10:", &fake, &["fixture"], FIXTURE_CONFIG, &[]).await;
    let host = &hosts[0];
    let (_, body) = host
        .post_xml(&text_push("kv:set:plan=gold", 95_001), Mode::Safe)
        .await;
    assert!(content(host, &body).contains("set plan"), "{body}");
    redis.kill();
    let (status, body) = host
        .post_xml(&text_push("kv:get:plan", 95_002), Mode::Safe)
        .await;
    assert_eq!(status, 200, "{body}");
    // Not "no value": a plugin would take that as absent and write a
    // default over the real value once the store is back.
    if body != "success" {
        let reply = content(host, &body);
        assert!(!reply.contains("no value"), "{reply}");
    }
    assert!(
        host.log().contains("kv-get failed"),
        "the call was stopped:\n{}",
        host.log()
    );
    // WIT 1.0 says so to a plugin that asks (`kv::try_get`): an error,
    // not absence.
    let (_, body) = host
        .post_xml(&text_push("kv:try:plan", 95_003), Mode::Safe)
        .await;
    let reply = content(host, &body);
    assert!(reply.contains("kv error: storage unavailable"), "{reply}");
}
