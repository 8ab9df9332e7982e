//! One deploy reaches every instance: three `wxhost serve` processes on one
//! Redis (a real `redis-server`) with the fake WeChat. A plugin published
//! through one instance's API serves on the others within 2 s; a broken
//! upload, or a published version that fails on the instances, leaves the
//! previous version serving everywhere; a plugin switched off through one
//! instance stops on the others; a rollback reaches every instance;
//! `wxhost plugin publish` publishes from the command line (on SQLite too,
//! to the running instance); the store's version wins over the plugins
//! directory's. Every instance lists the pushes of every instance and which
//! instances report; a push answered while Redis stalled is not run again
//! by its retry at another instance.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use wxhost::protocol::{Mode, Push};
use wxhost::store::{PluginManifest, Stores};
use wxhost_tests::fake_wechat::{APP_SECRET, FakeWechat};
use wxhost_tests::redis_server::RedisServer;
use wxhost_tests::service::{Wxhost, binary, free_port, wasm};

const API_TOKEN: &str = "cluster-test-api-token-0123456789";

/// How long a change may take to reach every instance (the bound).
const REACH: Duration = Duration::from_secs(2);

/// One instance and its admin API.
struct Instance {
    host: Wxhost,
    admin: String,
    http: reqwest::Client,
}

impl Instance {
    async fn api(&self, method: Method, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(API_TOKEN)
            .body(body)
            .send()
            .await
            .expect("admin API");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Plugin `id` as this instance lists it (`None`: not listed).
    async fn plugin(&self, id: &str) -> Option<Value> {
        let (status, body) = self.api(Method::GET, "/api/v1/plugins", vec![]).await;
        assert_eq!(status, 200, "{body}");
        body["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
    }

    /// The digest `id` serves with here, if it serves.
    async fn serving(&self, id: &str) -> Option<String> {
        self.plugin(id)
            .await
            .filter(|p| p["state"] == "serving")
            .map(|p| p["sha256"].as_str().unwrap().to_owned())
    }

    async fn reply(&self, text: &str) -> String {
        self.host
            .push(&Push::Text(text.into()), Mode::Safe, rand::random())
            .await
    }
}

/// Starts `n` instances on `redis` under `prefix`, each with `plugins` in
/// its plugins directory and an admin API of its own.
async fn cluster(
    n: usize,
    redis: &RedisServer,
    prefix: &str,
    fake: &FakeWechat,
    plugins: &[&str],
) -> Vec<Instance> {
    let mut out = Vec::new();
    for _ in 0..n {
        let admin_port = free_port();
        let mut env: Vec<(String, String)> = redis.env(prefix);
        env.push(("WXHOST_API_BASE_URL".into(), fake.base_url()));
        env.push(("WXHOST_APP_SECRET".into(), APP_SECRET.into()));
        env.push(("WXHOST_ADMIN_API_TOKEN".into(), API_TOKEN.into()));
        env.push((
            "WXHOST_ADMIN_LISTEN".into(),
            format!("127.0.0.1:{admin_port}"),
        ));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        out.push(Instance {
            host: Wxhost::start(plugins, "", &env).await,
            admin: format!("http://127.0.0.1:{admin_port}"),
            http: reqwest::Client::new(),
        });
    }
    out
}

/// Polls `check` until it holds or `within` passes; true if it held.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether every instance serves `id` at `digest` (`None`: not serving).
async fn all_serve(hosts: &[Instance], id: &str, digest: Option<&str>) -> bool {
    for h in hosts {
        if h.serving(id).await.as_deref() != digest {
            return false;
        }
    }
    true
}

fn sha256_hex(bytes: &[u8]) -> String {
    wxhost::store::published::digest(bytes)
}

#[tokio::test]
async fn a_plugin_published_through_one_instance_serves_on_every_instance_and_a_broken_one_changes_nothing()
 {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    let hosts = cluster(3, &redis, "c1:", &fake, &[]).await;
    let echo = std::fs::read(wasm("echo")).unwrap();
    let digest = sha256_hex(&echo);

    let published = Instant::now();
    let (status, body) = hosts[0]
        .api(Method::POST, "/api/v1/plugins?id=bot", echo.clone())
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["plugin"]["sha256"], digest.as_str());
    assert_eq!(body["plugin"]["source"], "store");
    assert!(
        eventually(REACH, || all_serve(&hosts, "bot", Some(&digest))).await,
        "bot serves on every instance within {REACH:?}:\n{}",
        hosts[2].host.log()
    );
    eprintln!(
        "publish to serving on the last instance: {:?}",
        published.elapsed()
    );
    for h in &hosts {
        assert!(h.reply("reply:text").await.contains("reply:text"));
        assert_eq!(h.plugin("bot").await.unwrap()["source"], "store");
    }
    // The store's manifest says what, who and when.
    let stores = redis.stores("c1:");
    let history = stores.published.history("bot").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].digest, digest);
    assert!(history[0].who.starts_with("api@"), "{:?}", history[0]);
    assert_eq!(
        stores.published.blob(&digest).await.unwrap().as_deref(),
        Some(echo.as_slice())
    );

    // A broken upload through another instance is refused there and
    // reaches no instance.
    let (status, body) = hosts[1]
        .api(
            Method::POST,
            "/api/v1/plugins?id=bot",
            echo[..echo.len() / 2].to_vec(),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(stores.published.history("bot").await.unwrap().len(), 1);

    // A version that reaches the store but fails on the instances (here a
    // component that traps in `describe`, written past the API's checks)
    // keeps the previous version serving everywhere.
    let bad = std::fs::read(wasm("fault_describe")).unwrap();
    let bad_digest = sha256_hex(&bad);
    stores
        .published
        .publish(
            &PluginManifest {
                id: "bot".into(),
                version: "9.9.9".into(),
                digest: bad_digest.clone(),
                who: "test".into(),
                when_ms: 1,
            },
            &bad,
        )
        .await
        .unwrap();
    assert!(
        eventually(REACH * 2, || async {
            hosts
                .iter()
                .all(|h| h.host.log().contains("describe failed"))
        })
        .await,
        "every instance tried the bad version:\n{}",
        hosts[2].host.log()
    );
    assert!(all_serve(&hosts, "bot", Some(&digest)).await);
    for h in &hosts {
        assert!(h.reply("reply:text").await.contains("reply:text"));
    }
}

#[tokio::test]
async fn a_plugin_switched_off_through_one_instance_stops_on_the_others_and_back_on() {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    let hosts = cluster(3, &redis, "c2:", &fake, &["fixture"]).await;
    let digest = sha256_hex(&std::fs::read(wasm("fixture")).unwrap());
    assert!(all_serve(&hosts, "fixture", Some(&digest)).await);
    assert_eq!(
        hosts[0].plugin("fixture").await.unwrap()["source"],
        "directory"
    );

    let (status, body) = hosts[1]
        .api(Method::POST, "/api/v1/plugins/fixture/disable", vec![])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        eventually(REACH, || all_serve(&hosts, "fixture", None)).await,
        "fixture stopped everywhere within {REACH:?}"
    );
    for h in [&hosts[0], &hosts[2]] {
        assert_eq!(h.plugin("fixture").await.unwrap()["disabled_by"], "console");
        assert_eq!(h.reply("reply:text").await, "success");
    }

    let (status, body) = hosts[2]
        .api(Method::POST, "/api/v1/plugins/fixture/enable", vec![])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        eventually(REACH, || all_serve(&hosts, "fixture", Some(&digest))).await,
        "fixture back everywhere within {REACH:?}"
    );
    assert!(hosts[0].reply("reply:text").await.contains("text reply"));
}

#[tokio::test]
async fn a_rollback_through_any_instance_reaches_every_instance() {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    let hosts = cluster(3, &redis, "c3:", &fake, &[]).await;
    let v1 = std::fs::read(wasm("echo")).unwrap();
    let v2 = std::fs::read(wasm("fixture")).unwrap();
    let (d1, d2) = (sha256_hex(&v1), sha256_hex(&v2));
    for v in [&v1, &v2] {
        let (status, body) = hosts[0]
            .api(Method::POST, "/api/v1/plugins?id=bot", v.clone())
            .await;
        assert_eq!(status, 201, "{body}");
    }
    assert!(eventually(REACH, || all_serve(&hosts, "bot", Some(&d2))).await);

    // Default: the version before the current one.
    let (status, body) = hosts[2]
        .api(Method::POST, "/api/v1/plugins/bot/rollback", vec![])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plugin"]["digest"], d1.as_str());
    assert!(
        eventually(REACH, || all_serve(&hosts, "bot", Some(&d1))).await,
        "rolled back everywhere within {REACH:?}"
    );
    assert!(hosts[1].reply("reply:text").await.contains("reply:text"));

    // A named digest.
    let (status, body) = hosts[1]
        .api(
            Method::POST,
            "/api/v1/plugins/bot/rollback",
            format!("{{\"digest\": \"{d2}\"}}").into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(eventually(REACH, || all_serve(&hosts, "bot", Some(&d2))).await);
    let (status, body) = hosts[0]
        .api(Method::GET, "/api/v1/plugins/bot/history", vec![])
        .await;
    assert_eq!(status, 200, "{body}");
    let digests: Vec<&str> = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests, [&d2, &d1, &d2, &d1]);

    // Refusals change nothing.
    for (body, want) in [
        (format!("{{\"digest\": \"{}\"}}", "0".repeat(64)), 404),
        ("{\"digest\": \"nope\"}".to_owned(), 400),
        ("[1]".to_owned(), 400),
    ] {
        let (status, answer) = hosts[0]
            .api(
                Method::POST,
                "/api/v1/plugins/bot/rollback",
                body.into_bytes(),
            )
            .await;
        assert_eq!(status, want, "{answer}");
    }
    let (status, _) = hosts[0]
        .api(Method::POST, "/api/v1/plugins/never/rollback", vec![])
        .await;
    assert_eq!(status, 404);
    assert!(all_serve(&hosts, "bot", Some(&d2)).await);
}

#[tokio::test]
async fn plugin_publish_on_the_command_line_reaches_every_instance_and_the_store_wins_over_the_directory()
 {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    // Both instances have `fixture` in their plugins directory.
    let hosts = cluster(2, &redis, "c4:", &fake, &["fixture"]).await;
    let echo = wasm("echo");
    let digest = sha256_hex(&std::fs::read(&echo).unwrap());
    let cwd = tempfile::tempdir().unwrap();
    // No session secret: a command that signs no cookie does not need it.
    let env: Vec<(String, String)> = redis
        .env("c4:")
        .into_iter()
        .filter(|(k, _)| k != "WXHOST_SESSION_SECRET")
        .collect();
    let out = std::process::Command::new(binary())
        .args(["plugin", "publish"])
        .arg(&echo)
        .args(["--id", "fixture"])
        .envs(env)
        .env("WXHOST_DATA_DIR", cwd.path().join("data"))
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("id       fixture"), "{stdout}");
    assert!(stdout.contains(&format!("digest   {digest}")), "{stdout}");
    assert!(stdout.contains("version  "), "{stdout}");
    // The store's echo replaces the directory's fixture on both.
    assert!(
        eventually(REACH, || all_serve(&hosts, "fixture", Some(&digest))).await,
        "the published version serves everywhere within {REACH:?}"
    );
    for h in &hosts {
        assert_eq!(h.plugin("fixture").await.unwrap()["source"], "store");
        assert!(h.reply("reply:text").await.contains("reply:text"));
    }
    // A restart keeps the store's version (the file is still there).
    let mut b = hosts.into_iter().nth(1).unwrap();
    b.host.restart().await;
    assert_eq!(b.serving("fixture").await.as_deref(), Some(digest.as_str()));
    // A broken file is refused by the command and nothing changes.
    let broken = cwd.path().join("broken.wasm");
    std::fs::write(&broken, b"\0asm\x0d\0\x01\0garbage").unwrap();
    let out = std::process::Command::new(binary())
        .args(["plugin", "publish"])
        .arg(&broken)
        .envs(redis.env("c4:"))
        .env("WXHOST_DATA_DIR", cwd.path().join("data"))
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stores: Stores = redis.stores("c4:");
    assert!(stores.published.history("broken").await.unwrap().is_empty());
}

#[tokio::test]
async fn every_instance_lists_the_pushes_of_every_instance_and_which_instances_report() {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    let hosts = cluster(3, &redis, "c5:", &fake, &["fixture"]).await;
    let name = |h: &Instance| format!("{}:{}", wxhost::config::host_name(), h.host.port);
    let msg_id: u64 = rand::random::<u32>() as u64;
    let reply = hosts[2]
        .host
        .push(&Push::Text("reply:text".into()), Mode::Safe, msg_id)
        .await;
    assert!(reply.contains("text reply"), "{reply}");

    // A's API lists the push C handled, naming C.
    let c = name(&hosts[2]);
    let listed = eventually(REACH, || async {
        let (status, body) = hosts[0].api(Method::GET, "/api/v1/pushes", vec![]).await;
        assert_eq!(status, 200, "{body}");
        body["pushes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["instance"] == c.as_str() && p["plugin"] == "fixture")
    })
    .await;
    assert!(listed, "A lists C's push within {REACH:?}");
    // Every row names its instance; B's own push shows as B's.
    let (_, body) = hosts[1].api(Method::GET, "/api/v1/pushes", vec![]).await;
    for p in body["pushes"].as_array().unwrap() {
        assert!(p["instance"].as_str().is_some_and(|i| !i.is_empty()), "{p}");
    }

    // Every instance reported in the last minute, as A sees it.
    let all_live = eventually(REACH, || async {
        let (status, body) = hosts[0].api(Method::GET, "/api/v1/instances", vec![]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["this"], name(&hosts[0]).as_str());
        let live: Vec<&str> = body["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["live"] == true)
            .map(|i| i["instance"].as_str().unwrap())
            .collect();
        hosts.iter().all(|h| live.contains(&name(h).as_str()))
    })
    .await;
    assert!(all_live, "A sees three live instances");
}

/// Calls of plugin `id` on every instance together.
async fn calls_everywhere(hosts: &[Instance], id: &str) -> u64 {
    let mut n = 0;
    for h in hosts {
        n += h
            .plugin(id)
            .await
            .map_or(0, |p| p["calls"].as_u64().unwrap());
    }
    n
}

#[tokio::test]
async fn a_push_answered_while_redis_stalled_is_not_run_again_by_its_retry_at_another_instance() {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    let hosts = cluster(2, &redis, "c6:", &fake, &["fixture"]).await;
    let (a, b) = (&hosts[0], &hosts[1]);
    let xml = Push::Text("reply:text".into()).to_xml(
        "gh_test",
        "o_test_user",
        wxhost::unix_now(),
        rand::random::<u32>() as u64,
    );
    // Redis stalls: A's ledger call times out and A answers from its own
    // memory, running the plugin.
    redis.pause();
    let (status, body) = a.host.post_xml(&xml, Mode::Safe).await;
    redis.resume();
    assert_eq!(status, 200, "{body}");
    let first = a.host.open(&body, Mode::Safe);
    assert!(first.contains("text reply"), "{first}\n{}", a.host.log());
    assert_eq!(calls_everywhere(&hosts, "fixture").await, 1);

    // Once Redis is back, A publishes the decision it made meanwhile.
    let decided = eventually(REACH * 2, || async {
        let found = redis
            .command(&[
                "EVAL",
                "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do \
                   local v = redis.call('GET', k) \
                   if v and string.sub(v, 1, 2) == 'd:' then return 1 end \
                 end return 0",
                "0",
                "c6:push:*",
            ])
            .await;
        found.starts_with(":1")
    })
    .await;
    assert!(decided, "A's decision reached Redis:\n{}", a.host.log());

    // WeChat's retry (a new nonce, the same message) reaches B: the same
    // reply, and the plugin does not run again.
    let (status, body) = b.host.post_xml(&xml, Mode::Safe).await;
    assert_eq!(status, 200, "{body}");
    let again = b.host.open(&body, Mode::Safe);
    assert!(again.contains("text reply"), "{again}");
    assert_eq!(
        calls_everywhere(&hosts, "fixture").await,
        1,
        "one plugin run for the push and its retry"
    );
}

#[tokio::test]
async fn on_sqlite_a_plugin_published_from_the_command_line_serves_on_the_running_instance() {
    let admin_port = free_port();
    let admin = format!("127.0.0.1:{admin_port}");
    let host = Wxhost::start(
        &["fixture"],
        "",
        &[
            ("WXHOST_ADMIN_API_TOKEN", API_TOKEN),
            ("WXHOST_ADMIN_LISTEN", admin.as_str()),
        ],
    )
    .await;
    let one = [Instance {
        host,
        admin: format!("http://{admin}"),
        http: reqwest::Client::new(),
    }];
    let echo = wasm("echo");
    let digest = sha256_hex(&std::fs::read(&echo).unwrap());
    // Another process on the same data dir (the one SQLite file).
    let out = std::process::Command::new(binary())
        .args(["plugin", "publish"])
        .arg(&echo)
        .args(["--id", "fixture"])
        .env("WXHOST_DATA_DIR", one[0].host.dir.path().join("data"))
        .current_dir(one[0].host.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        eventually(REACH, || all_serve(&one, "fixture", Some(&digest))).await,
        "the published version serves within {REACH:?}:\n{}",
        one[0].host.log()
    );
    assert_eq!(one[0].plugin("fixture").await.unwrap()["source"], "store");
    assert!(one[0].reply("reply:text").await.contains("reply:text"));
    // One instance lists itself.
    let (_, body) = one[0].api(Method::GET, "/api/v1/instances", vec![]).await;
    assert_eq!(body["instances"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["instances"][0]["live"], true);
}
