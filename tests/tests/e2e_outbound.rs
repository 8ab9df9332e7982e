//! Outbound messages end to end: the `wxhost` binary drains its durable
//! queue into the fake WeChat (`fake_outbound.rs`), jobs submitted over the
//! admin API: exactly-once delivery under injected faults within the rate
//! limit, a `kill -9` mid-drain, a 45009 pause of one account, 43101
//! without retry, receipts, the customer-service fallback, idempotency keys.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use wxhost::protocol::Mode;
use wxhost_tests::fake_outbound::{Fault, TEMPLATE_SEND};
use wxhost_tests::fake_wechat::{APP_ID, APP_SECRET, FakeWechat, paths};
use wxhost_tests::service::{Wxhost, free_port};

const API_TOKEN: &str = "outbound-test-token-0123456789";
const SHOP_APP_ID: &str = "wxshop0000000001";
const SHOP_SECRET: &str = "shop-secret-0123456789abcdef0123";
const SHOP_KEY: &str = "bbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// The binary with its console API reachable.
struct Host {
    wx: Wxhost,
    admin: String,
    http: reqwest::Client,
}

impl Host {
    async fn start(fake: &FakeWechat, toml: &str, env: &[(&str, &str)]) -> Host {
        let admin_port = free_port();
        let listen = format!("127.0.0.1:{admin_port}");
        let base = fake.base_url();
        let mut vars: Vec<(&str, &str)> = vec![
            ("WXHOST_API_BASE_URL", &base),
            ("WXHOST_APP_SECRET", APP_SECRET),
            ("WXHOST_ADMIN_LISTEN", &listen),
            ("WXHOST_ADMIN_API_TOKEN", API_TOKEN),
        ];
        vars.extend_from_slice(env);
        let wx = Wxhost::start(&[], toml, &vars).await;
        let host = Host {
            wx,
            admin: format!("http://{listen}"),
            http: reqwest::Client::new(),
        };
        host.wait_admin().await;
        host
    }

    async fn wait_admin(&self) {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Ok(r) = self
                .http
                .get(format!("{}/healthz", self.admin))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("admin listener did not start:\n{}", self.wx.log());
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(API_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("admin API");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Submits `jobs` in batches; their ids in order.
    async fn submit(&self, jobs: &[Value]) -> Vec<i64> {
        let mut ids = Vec::new();
        for chunk in jobs.chunks(500) {
            let (status, body) = self
                .api(Method::POST, "/api/v1/messages", Some(json!(chunk)))
                .await;
            assert_eq!(status, 202, "{body}");
            ids.extend(
                body["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap()),
            );
        }
        ids
    }

    async fn job(&self, id: i64) -> Value {
        let (status, body) = self
            .api(Method::GET, &format!("/api/v1/messages/{id}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until job `id` leaves `queued` (or `status` is what `done` wants).
    async fn wait_job(&self, id: i64, done: impl Fn(&Value) -> bool) -> Value {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let j = self.job(id).await;
            if done(&j) {
                return j;
            }
            assert!(
                Instant::now() < until,
                "job {id} stuck: {j}\n{}",
                self.wx.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Jobs per status (all accounts).
    async fn counts(&self) -> HashMap<String, u64> {
        let (_, body) = self.api(Method::GET, "/api/v1/outbound", None).await;
        let mut out = HashMap::new();
        for row in body["by_status"].as_array().unwrap() {
            *out.entry(row["status"].as_str().unwrap().to_owned())
                .or_default() += row["count"].as_u64().unwrap();
        }
        out
    }

    /// Waits until no job is queued.
    async fn wait_drained(&self, timeout: Duration) -> HashMap<String, u64> {
        let until = Instant::now() + timeout;
        loop {
            let c = self.counts().await;
            if c.get("queued").copied().unwrap_or(0) == 0 && !c.is_empty() {
                return c;
            }
            assert!(
                Instant::now() < until,
                "queue not drained: {c:?}\n{}",
                self.wx.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every job, newest first.
    async fn all_jobs(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut before = String::new();
        loop {
            let (_, body) = self
                .api(
                    Method::GET,
                    &format!("/api/v1/messages?limit=1000{before}"),
                    None,
                )
                .await;
            let page = body["messages"].as_array().unwrap().clone();
            let Some(last) = page.last() else { break };
            before = format!("&before={}", last["id"]);
            out.extend(page);
        }
        out
    }
}

fn template_job(to: &str) -> Value {
    json!({"channel": "template", "to": to, "template_id": "TPL_SHIPPED",
           "data": {"thing1": {"value": "包裹已发出"}, "character_string2": {"value": to}}})
}

/// Each delivered user exactly once, and each job's msgid the one its
/// user got.
fn assert_exactly_once(fake: &FakeWechat, jobs: &[Value], users: usize) {
    let deliveries = fake.deliveries();
    let mut per_user: HashMap<&str, Vec<u64>> = HashMap::new();
    for d in &deliveries {
        per_user.entry(&d.to).or_default().push(d.msgid);
    }
    let twice: Vec<_> = per_user.iter().filter(|(_, m)| m.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "delivered more than once: {:?}",
        &twice[..twice.len().min(5)]
    );
    assert_eq!(per_user.len(), users, "users reached");
    assert_eq!(deliveries.len(), users);
    for j in jobs {
        assert_eq!(j["status"], "sent", "{j}");
        let to = j["job"]["to"].as_str().unwrap();
        assert_eq!(j["msgid"].as_u64(), Some(per_user[to][0]), "{j}");
    }
}

#[tokio::test]
async fn ten_thousand_templates_under_faults_arrive_once_each_within_the_rate() {
    let fake = FakeWechat::start().await;
    // Every 7th call delivers but answers -1 (a lost answer); every 11th
    // answers 45011 (minute quota) without delivering.
    fake.inject(
        TEMPLATE_SEND,
        Fault {
            errcode: -1,
            every: 7,
            after_delivery: true,
        },
    );
    fake.inject(
        TEMPLATE_SEND,
        Fault {
            errcode: 45011,
            every: 11,
            after_delivery: false,
        },
    );
    const RATE: usize = 400;
    const CONCURRENCY: usize = 16;
    let toml = format!(
        "[outbound]\nrate_per_sec = {RATE}\nconcurrency = {CONCURRENCY}\nretry_base_ms = 50\nretry_max_ms = 400\npoll_ms = 20\n"
    );
    let host = Host::start(&fake, &toml, &[]).await;
    let jobs: Vec<Value> = (0..10_000)
        .map(|i| template_job(&format!("o_user_{i:05}")))
        .collect();
    let ids = host.submit(&jobs).await;
    assert_eq!(ids.len(), 10_000);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 10_000);
    let counts = host.wait_drained(Duration::from_secs(600)).await;
    assert_eq!(counts.get("sent"), Some(&10_000), "{counts:?}");
    let all = host.all_jobs().await;
    assert_eq!(all.len(), 10_000);
    assert_exactly_once(&fake, &all, 10_000);
    // Retries happened (the faults bit) and reused their client_msg_id.
    let calls = fake.outbound_calls(TEMPLATE_SEND);
    assert!(calls > 10_000 + 1000, "{calls} calls");
    assert!(all.iter().any(|j| j["attempts"].as_u64() > Some(1)));
    // The bucket: sends spaced 1/RATE apart; what the fake sees in any one
    // second is at most RATE plus the sends that were already in flight.
    let max = fake.max_per_second(TEMPLATE_SEND);
    assert!(
        max <= RATE + CONCURRENCY,
        "{max} calls in one second, rate {RATE}"
    );
}

#[tokio::test]
async fn kill_9_mid_drain_then_restart_delivers_the_rest_none_twice() {
    let fake = FakeWechat::start().await;
    let toml = "[outbound]\nrate_per_sec = 150\nconcurrency = 8\nlease_secs = 5\nretry_base_ms = 50\npoll_ms = 20\n";
    let mut host = Host::start(&fake, toml, &[]).await;
    let jobs: Vec<Value> = (0..1500)
        .map(|i| template_job(&format!("o_k_{i:05}")))
        .collect();
    host.submit(&jobs).await;
    let until = Instant::now() + Duration::from_secs(120);
    while fake.deliveries().len() < 300 {
        assert!(Instant::now() < until, "{}", host.wx.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SIGKILL mid-drain (restart kills with SIGKILL, then starts again on
    // the same data dir).
    host.wx.restart().await;
    host.wait_admin().await;
    let counts = host.wait_drained(Duration::from_secs(180)).await;
    assert_eq!(counts.get("sent"), Some(&1500), "{counts:?}");
    let all = host.all_jobs().await;
    assert_exactly_once(&fake, &all, 1500);
}

#[tokio::test]
async fn daily_quota_pauses_one_account_while_another_keeps_sending() {
    let fake = FakeWechat::start().await;
    fake.add_app(SHOP_APP_ID, SHOP_SECRET);
    fake.exhaust_quota(APP_ID, TEMPLATE_SEND);
    let toml = format!(
        "[outbound]\nrate_per_sec = 50\nconcurrency = 4\nretry_base_ms = 50\npoll_ms = 20\n[account.shop]\napp_id = \"{SHOP_APP_ID}\"\n"
    );
    let host = Host::start(
        &fake,
        &toml,
        &[
            ("WXHOST_ACCOUNT_SHOP_TOKEN", "shoptoken"),
            ("WXHOST_ACCOUNT_SHOP_ENCODING_AES_KEY", SHOP_KEY),
            ("WXHOST_ACCOUNT_SHOP_APP_SECRET", SHOP_SECRET),
        ],
    )
    .await;
    let mut jobs: Vec<Value> = (0..30).map(|i| template_job(&format!("o_d_{i}"))).collect();
    jobs.extend((0..30).map(|i| {
        let mut j = template_job(&format!("o_s_{i}"));
        j["account"] = json!("shop");
        j
    }));
    let ids = host.submit(&jobs).await;
    for id in &ids[30..] {
        host.wait_job(*id, |j| j["status"] == "sent").await;
    }
    // The default account: paused, its jobs still queued with the reason,
    // and WeChat was not hammered (at most the calls already in flight).
    let (_, overview) = host.api(Method::GET, "/api/v1/outbound", None).await;
    let pauses = overview["pauses"].as_array().unwrap();
    assert_eq!(pauses.len(), 1, "{overview}");
    assert_eq!(pauses[0]["account"], "default");
    assert_eq!(pauses[0]["api"], TEMPLATE_SEND);
    assert!(pauses[0]["until_ms"].as_i64().unwrap() > wxhost::store::now_millis() + 1000);
    let default_calls = fake
        .apps_called(TEMPLATE_SEND)
        .iter()
        .filter(|a| *a == APP_ID)
        .count();
    assert!((1..=4).contains(&default_calls), "{default_calls}");
    for id in &ids[..30] {
        let j = host.job(*id).await;
        assert_eq!(j["status"], "queued", "{j}");
    }
    let paused = host.job(ids[0]).await;
    assert!(
        host.all_jobs()
            .await
            .iter()
            .any(|j| j["reason"] == "daily_quota"),
        "{paused}"
    );
    assert_eq!(
        fake.deliveries()
            .iter()
            .filter(|d| d.app_id == SHOP_APP_ID)
            .count(),
        30
    );
}

#[tokio::test]
async fn a_refusing_user_fails_without_retry_and_opts_out() {
    let fake = FakeWechat::start().await;
    fake.refuse_user("o_refuser");
    let host = Host::start(&fake, "[outbound]\nretry_base_ms = 20\npoll_ms = 20\n", &[]).await;
    let id = host.submit(&[template_job("o_refuser")]).await[0];
    let j = host.wait_job(id, |j| j["status"] != "queued").await;
    assert_eq!(
        (j["status"].as_str(), j["reason"].as_str()),
        (Some("failed"), Some("user_refused")),
        "{j}"
    );
    assert_eq!(j["attempts"], 1);
    // A later job to them with that template fails at once, no call.
    let again = host.submit(&[template_job("o_refuser")]).await[0];
    let j = host.wait_job(again, |j| j["status"] != "queued").await;
    assert_eq!(
        (j["reason"].as_str(), j["attempts"].as_u64()),
        (Some("opted_out"), Some(0)),
        "{j}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.outbound_calls(TEMPLATE_SEND), 1);
}

/// A signed push of an event from `from` (the receipts).
fn event_xml(from: &str, inner: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>{inner}</xml>",
        wxhost::unix_now()
    )
}

#[tokio::test]
async fn receipts_mark_jobs_delivered_or_failed_and_rejects_opt_out() {
    let fake = FakeWechat::start().await;
    let host = Host::start(&fake, "[outbound]\npoll_ms = 20\n", &[]).await;
    let ids = host
        .submit(&[template_job("o_r1"), template_job("o_r2")])
        .await;
    let a = host.wait_job(ids[0], |j| j["status"] == "sent").await;
    let b = host.wait_job(ids[1], |j| j["status"] == "sent").await;
    let (ma, mb) = (a["msgid"].as_u64().unwrap(), b["msgid"].as_u64().unwrap());
    assert!(
        ma > 1 << 53,
        "msgids beyond a float's precision survive: {ma}"
    );
    for (from, msgid, status) in [("o_r1", ma, "success"), ("o_r2", mb, "failed:user block")] {
        let xml = event_xml(
            from,
            &format!(
                "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>{msgid}</MsgID><Status><![CDATA[{status}]]></Status>"
            ),
        );
        let (code, body) = host.wx.post_xml(&xml, Mode::Safe).await;
        assert_eq!(code, 200, "{body}");
    }
    let a = host.wait_job(ids[0], |j| j["status"] != "sent").await;
    assert_eq!(a["status"], "delivered", "{a}");
    let b = host.wait_job(ids[1], |j| j["status"] != "sent").await;
    assert_eq!(
        (b["status"].as_str(), b["reason"].as_str()),
        (Some("failed"), Some("user_block"))
    );
    assert!(b["history"].as_array().unwrap().len() >= 3, "{b}");

    // A reject in a subscription change event: later jobs with that
    // template fail as opted_out without a call.
    let xml = event_xml(
        "o_r3",
        "<Event><![CDATA[subscribe_msg_change_event]]></Event><SubscribeMsgChangeEvent><List><TemplateId><![CDATA[TPL_SHIPPED]]></TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></SubscribeMsgChangeEvent>",
    );
    host.wx.post_xml(&xml, Mode::Safe).await;
    let before = fake.outbound_calls(TEMPLATE_SEND);
    let until = Instant::now() + Duration::from_secs(10);
    // The opt-out is written off the push path: wait for it to land.
    loop {
        let id = host.submit(&[template_job("o_r3")]).await[0];
        let j = host.wait_job(id, |j| j["status"] != "queued").await;
        if j["reason"] == "opted_out" {
            break;
        }
        assert!(Instant::now() < until, "{j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent_to_r3 = fake.deliveries().iter().filter(|d| d.to == "o_r3").count() as usize;
    assert_eq!(fake.outbound_calls(TEMPLATE_SEND) - before, sent_to_r3);
}

#[tokio::test]
async fn a_silent_user_gets_the_fallback_template_an_active_one_the_customer_message() {
    let fake = FakeWechat::start().await;
    let host = Host::start(&fake, "[outbound]\npoll_ms = 20\n", &[]).await;
    let customer = |to: &str| {
        json!({"channel": "customer", "to": to,
               "message": {"msgtype": "text", "text": {"content": "您的订单已发货"}},
               "fallback": {"channel": "template", "template_id": "TPL_SHIPPED",
                            "data": {"thing1": {"value": "订单已发货"}}}})
    };
    // o_test_user pushes (the harness's sender); o_silent never did.
    host.wx
        .push(&wxhost::protocol::Push::Text("hi".into()), Mode::Safe, 77)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids = host
        .submit(&[customer("o_silent"), customer("o_test_user")])
        .await;
    let silent = host.wait_job(ids[0], |j| j["status"] != "queued").await;
    assert_eq!(
        (silent["status"].as_str(), silent["via"].as_str()),
        (Some("sent"), Some("template")),
        "{silent}"
    );
    let active = host.wait_job(ids[1], |j| j["status"] != "queued").await;
    assert_eq!(
        (active["status"].as_str(), active["via"].as_str()),
        (Some("sent"), Some("customer")),
        "{active}"
    );
    let to_silent: Vec<_> = fake
        .deliveries()
        .into_iter()
        .filter(|d| d.to == "o_silent")
        .collect();
    assert_eq!(to_silent.len(), 1);
    assert_eq!(to_silent[0].template_id.as_deref(), Some("TPL_SHIPPED"));
    let custom = fake.requests(paths::CUSTOM_SEND);
    assert_eq!(custom.len(), 1, "{custom:?}");
    assert_eq!(custom[0]["touser"], "o_test_user");
    // A customer job refused as outside the window (45015) falls back too.
    fake.fail_next(paths::CUSTOM_SEND, 45015, 1);
    let id = host.submit(&[customer("o_test_user")]).await[0];
    let j = host.wait_job(id, |j| j["status"] != "queued").await;
    assert_eq!(
        (j["status"].as_str(), j["via"].as_str()),
        (Some("sent"), Some("template")),
        "{j}"
    );
}

#[tokio::test]
async fn keys_dedupe_and_bad_jobs_are_refused_naming_the_field() {
    let fake = FakeWechat::start().await;
    let host = Host::start(&fake, "[outbound]\nenabled = false\n", &[]).await;
    let mut job = template_job("o_k");
    job["key"] = json!("order-42-shipped");
    let (s1, first) = host
        .api(Method::POST, "/api/v1/messages", Some(job.clone()))
        .await;
    let (s2, second) = host.api(Method::POST, "/api/v1/messages", Some(job)).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["duplicate"], true);
    let mut bad = template_job("o_k");
    bad["data"]["thing1"]["value"] = json!("这是一个超过二十个字符的很长很长很长的商品名称");
    let (status, body) = host
        .api(
            Method::POST,
            "/api/v1/messages",
            Some(json!([template_job("o_ok"), bad])),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let e = body["error"].as_str().unwrap();
    assert!(e.starts_with("job 1: data.thing1: value:"), "{e}");
    // All or none: the valid job of that batch was not queued.
    assert_eq!(host.all_jobs().await.len(), 1);
    let (status, body) = host
        .api(Method::POST, "/api/v1/messages", Some(json!({"channel": "template", "account": "nope", "to": "o", "template_id": "T", "data": {"thing1": {"value": "x"}}})))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no account `nope`"),
        "{body}"
    );
    let (status, _) = host.api(Method::GET, "/api/v1/messages/999999", None).await;
    assert_eq!(status, 404);
    let (status, _) = host
        .api(Method::GET, "/api/v1/messages?status=lost", None)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_cli_queues_jobs_the_server_sends_and_shows_them() {
    let fake = FakeWechat::start().await;
    let host = Host::start(&fake, "[outbound]\npoll_ms = 20\n", &[]).await;
    let dir = host.wx.dir.path().to_owned();
    let run = |args: &[&str]| {
        let out = wxhost_tests::service::cli(&dir)
            .args(args)
            .env("WXHOST_DATA_DIR", dir.join("data"))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&[
        "send",
        "template",
        "--to",
        "o_cli",
        "--template-id",
        "TPL_SHIPPED",
        "--data",
        r#"{"thing1": {"value": "已发货"}}"#,
        "--key",
        "cli-1",
    ]);
    assert!(ok, "{stdout}{stderr}");
    let id: i64 = stdout
        .trim()
        .strip_prefix("queued job ")
        .unwrap()
        .parse()
        .unwrap();
    let j = host.wait_job(id, |j| j["status"] != "queued").await;
    assert_eq!(j["status"], "sent", "{j}");
    let (ok, stdout, _) = run(&["messages", "show", &id.to_string()]);
    assert!(ok);
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (shown["status"].as_str(), shown["msgid"].as_u64()),
        (Some("sent"), j["msgid"].as_u64())
    );
    // A file: queued whole or not at all, the bad line named.
    let file = dir.join("jobs.jsonl");
    let good = template_job("o_file_1").to_string();
    let bad = json!({"channel": "template", "to": "o_file_2", "template_id": "T", "data": {"remark": {"value": "x"}}});
    std::fs::write(&file, format!("{good}\n\n{bad}\n")).unwrap();
    let (ok, _, stderr) = run(&["send", "--file", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("line 3: data.remark"), "{stderr}");
    assert_eq!(host.all_jobs().await.len(), 1);
    std::fs::write(&file, format!("{good}\n{}\n", template_job("o_file_2"))).unwrap();
    let (ok, stdout, stderr) = run(&["send", "--file", file.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    let (ok, stdout, _) = run(&["messages", "list", "--status", "sent"]);
    assert!(ok && stdout.contains("template"), "{stdout}");
}

#[tokio::test]
async fn the_messages_page_shows_depth_pauses_and_a_jobs_history() {
    let c = wxhost_tests::console::Console::start_with(
        &[],
        "[outbound]\npoll_ms = 20\nretry_base_ms = 20\n",
        &[],
        None,
    )
    .await;
    c.fake.exhaust_quota(APP_ID, TEMPLATE_SEND);
    let res = c
        .api(Method::POST, "/api/v1/messages")
        .json(&json!([template_job("o_page_1"), template_job("o_page_2")]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let ids: Vec<i64> = res.json::<Value>().await.unwrap()["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    // The first call answers 45009: the account's template API pauses.
    let done = c
        .eventually(Duration::from_secs(20), || async {
            let r = c.api(Method::GET, "/api/v1/outbound").send().await.unwrap();
            let v: Value = r.json().await.unwrap();
            !v["pauses"].as_array().unwrap().is_empty()
        })
        .await;
    assert!(done);
    let s = c.login().await;
    let page = c.page(&s.cookie, "/messages").await;
    assert!(
        page.contains(r#"id="pauses""#) && page.contains(TEMPLATE_SEND),
        "{page}"
    );
    assert!(page.contains("daily_quota"), "{page}");
    assert!(page.contains(r#"id="depth""#) && page.contains(r#"id="send-rate""#));
    assert!(page.contains(&format!(r#"href="/messages/{}""#, ids[0])));
    let job = c.page(&s.cookie, &format!("/messages/{}", ids[0])).await;
    assert!(
        job.contains(r#"id="history""#) && job.contains("queued"),
        "{job}"
    );
    assert!(job.contains("TPL_SHIPPED"));
}

/// `name_total{labels} value` lines of a Prometheus text summed.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn three_instances_on_redis_drain_one_queue_and_never_send_a_job_twice() {
    let redis = wxhost_tests::redis_server::RedisServer::start().await;
    let fake = FakeWechat::start().await;
    fake.inject(
        TEMPLATE_SEND,
        Fault {
            errcode: -1,
            every: 5,
            after_delivery: true,
        },
    );
    let env = redis.env("wxo:");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let toml = "[outbound]\nrate_per_sec = 150\nconcurrency = 8\nlease_secs = 5\nretry_base_ms = 50\nretry_max_ms = 200\npoll_ms = 20\n";
    let mut hosts = Vec::new();
    for _ in 0..3 {
        hosts.push(Host::start(&fake, toml, &env).await);
    }
    let jobs: Vec<Value> = (0..1500)
        .map(|i| template_job(&format!("o_r_{i:05}")))
        .collect();
    let ids = hosts[0].submit(&jobs).await;
    assert_eq!(ids.len(), 1500);
    // A key is one job across instances too.
    let mut keyed = template_job("o_keyed");
    keyed["key"] = json!("same-everywhere");
    let (_, a) = hosts[1]
        .api(Method::POST, "/api/v1/messages", Some(keyed.clone()))
        .await;
    let (_, b) = hosts[2]
        .api(Method::POST, "/api/v1/messages", Some(keyed))
        .await;
    assert_eq!(a["id"], b["id"]);
    // One instance dies mid-drain: its leased jobs go to the others once
    // their leases lapse.
    let until = Instant::now() + Duration::from_secs(120);
    while fake.deliveries().len() < 400 {
        assert!(Instant::now() < until);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut sent_by = Vec::new();
    for h in &hosts {
        let text = h
            .http
            .get(format!("{}/metrics", h.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        sent_by.push(metric_sum(&text, "wxhost_outbound_sent_total"));
    }
    assert!(
        sent_by.iter().all(|n| *n > 0.0),
        "every instance sends: {sent_by:?}"
    );
    hosts[2].wx.kill();
    let counts = hosts[0].wait_drained(Duration::from_secs(180)).await;
    assert_eq!(counts.get("sent"), Some(&1501), "{counts:?}");
    let all = hosts[1].all_jobs().await;
    assert_eq!(all.len(), 1501);
    assert_exactly_once(&fake, &all, 1501);
    // One bucket for the cluster: three instances together keep to the
    // account's 150 a second (plus what was in flight), not 3 × 150.
    let max = fake.max_per_second(TEMPLATE_SEND);
    assert!(
        max <= 150 + 3 * 8,
        "{max} calls in one second across three instances"
    );
}

/// WeChat's own multipart form with the field `media`.
fn media_form(file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "wxhost-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn media_uploads_once_per_content_with_the_right_extension_and_limits_checked_first() {
    let fake = FakeWechat::start().await;
    let host = Host::start(&fake, "[outbound]\nenabled = false\n", &[]).await;
    let post = |query: &str, file_name: &str, bytes: Vec<u8>| {
        let (ctype, body) = media_form(file_name, &bytes);
        host.http
            .post(format!("{}/api/v1/media?{query}", host.admin))
            .bearer_auth(API_TOKEN)
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    png.extend(std::iter::repeat_n(7u8, 5000));
    // The caller's file name has no extension: the host names it by content.
    let first: Value = post("type=image", "upload", png.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["cached"], false, "{first}");
    let again: Value = post("type=image", "other-name", png.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["cached"].as_bool(), &again["media_id"]),
        (Some(true), &first["media_id"])
    );
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(
        (uploads[0].kind.as_str(), uploads[0].file_name.as_str()),
        ("image", "media.png")
    );
    // Other bytes: another upload; permanent material is cached apart.
    let mut other = png.clone();
    other.push(1);
    let r = post("type=image", "x", other).await.unwrap();
    assert_eq!(r.status(), 201);
    let m: Value = post("type=image&permanent=true", "x", png.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["cached"], false);
    assert!(
        m["url"]
            .as_str()
            .unwrap()
            .starts_with("http://mmbiz.qpic.cn/")
    );
    assert_eq!(fake.uploads().len(), 3);
    // A PNG is no voice, and a thumb is at most 64 KB: refused before a call.
    let r = post("type=voice", "a.png", png.clone()).await.unwrap();
    assert_eq!(r.status(), 400);
    let mut big = vec![0xFF, 0xD8, 0xFF, 0xE0];
    big.resize(65 << 10, 0);
    let r = post("type=thumb", "t.jpg", big).await.unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("65536"), "{text}");
    let r = post("type=sticker", "a.png", png).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(fake.uploads().len(), 3);
}

#[tokio::test]
async fn tags_and_the_api_quota_through_the_admin_api() {
    let fake = FakeWechat::start().await;
    let host = Host::start(&fake, "[outbound]\npoll_ms = 20\n", &[]).await;
    let (status, tag) = host
        .api(Method::POST, "/api/v1/tags", Some(json!({"name": "广东"})))
        .await;
    assert_eq!(status, 201, "{tag}");
    let id = tag["id"].as_u64().unwrap();
    let (status, dup) = host
        .api(Method::POST, "/api/v1/tags", Some(json!({"name": "广东"})))
        .await;
    assert_eq!(status, 502, "WeChat refused the duplicate: {dup}");
    let (status, long) = host
        .api(
            Method::POST,
            "/api/v1/tags",
            Some(json!({"name": "标".repeat(11)})),
        )
        .await;
    assert_eq!(status, 400, "checked before the call: {long}");
    let (status, body) = host
        .api(
            Method::POST,
            &format!("/api/v1/tags/{id}/members"),
            Some(json!({"openids": ["o_t1", "o_t2"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, members) = host
        .api(Method::GET, &format!("/api/v1/tags/{id}/members"), None)
        .await;
    assert_eq!(members["openids"], json!(["o_t1", "o_t2"]));
    let (_, list) = host.api(Method::GET, "/api/v1/tags", None).await;
    assert_eq!(list["tags"][0]["count"], 2, "{list}");
    let too_many: Vec<String> = (0..51).map(|i| format!("o{i}")).collect();
    let (status, _) = host
        .api(
            Method::POST,
            &format!("/api/v1/tags/{id}/members"),
            Some(json!({"openids": too_many})),
        )
        .await;
    assert_eq!(status, 400);
    // A mass send to the tag goes to mass/sendall with the tag and a clientmsgid.
    let mass = json!({"channel": "mass", "tag_id": id, "message": {"msgtype": "text", "text": {"content": "本周活动"}}});
    let (status, queued) = host.api(Method::POST, "/api/v1/messages", Some(mass)).await;
    assert_eq!(status, 202);
    let j = host
        .wait_job(queued["id"].as_i64().unwrap(), |j| j["status"] != "queued")
        .await;
    assert_eq!(j["status"], "sent", "{j}");
    let sent = fake.requests("/cgi-bin/message/mass/sendall");
    assert_eq!(sent[0]["filter"], json!({"is_to_all": false, "tag_id": id}));
    assert!(
        sent[0]["clientmsgid"]
            .as_str()
            .unwrap()
            .starts_with("wxhost-")
    );
    let (status, q) = host
        .api(
            Method::GET,
            "/api/v1/quota?cgi_path=/cgi-bin/message/mass/sendall",
            None,
        )
        .await;
    assert_eq!(status, 200, "{q}");
    assert_eq!(q["quota"]["used"], 1, "{q}");
}

#[tokio::test]
async fn a_mass_send_is_previewed_checked_withdrawn_and_its_speed_set_through_the_admin_api() {
    let fake = FakeWechat::start().await;
    let host = Host::start(&fake, "[outbound]\npoll_ms = 20\n", &[]).await;
    let text = json!({"msgtype": "text", "text": {"content": "本周活动"}});
    // Preview to one follower first.
    let mut preview = text.clone();
    preview["touser"] = json!("o_editor");
    let (status, body) = host
        .api(Method::POST, "/api/v1/mass/preview", Some(preview))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(fake.deliveries().iter().any(|d| d.to == "o_editor"));
    let (status, _) = host
        .api(Method::POST, "/api/v1/mass/preview", Some(text.clone()))
        .await;
    assert_eq!(status, 400, "a preview names its follower");

    // Sent through the queue; then its status, and withdrawn.
    let mass = json!({"channel": "mass", "to": ["o_a", "o_b"], "message": text});
    let (status, queued) = host.api(Method::POST, "/api/v1/messages", Some(mass)).await;
    assert_eq!(status, 202, "{queued}");
    let j = host
        .wait_job(queued["id"].as_i64().unwrap(), |j| j["status"] != "queued")
        .await;
    assert_eq!(j["status"], "sent", "{j}");
    let msgid = j["msgid"].as_u64().unwrap();
    let (status, st) = host
        .api(Method::GET, &format!("/api/v1/mass/{msgid}"), None)
        .await;
    assert_eq!(
        (status, &st["status"]),
        (200, &json!("SEND_SUCCESS")),
        "{st}"
    );
    let (status, _) = host
        .api(Method::DELETE, &format!("/api/v1/mass/{msgid}"), None)
        .await;
    assert_eq!(status, 200);
    let (_, st) = host
        .api(Method::GET, &format!("/api/v1/mass/{msgid}"), None)
        .await;
    assert_eq!(st["status"], "DELETE", "{st}");
    // WeChat does not know this one.
    let (status, _) = host.api(Method::GET, "/api/v1/mass/12345", None).await;
    assert_eq!(status, 502);
    let (status, _) = host
        .api(Method::GET, "/api/v1/mass/not-a-number", None)
        .await;
    assert_eq!(status, 400);

    // Speed: 0..=4, checked before the call.
    let (_, s) = host.api(Method::GET, "/api/v1/mass/speed", None).await;
    assert_eq!(s["speed"], 0, "{s}");
    let (status, _) = host
        .api(Method::PUT, "/api/v1/mass/speed", Some(json!({"speed": 3})))
        .await;
    assert_eq!(status, 200);
    let (_, s) = host.api(Method::GET, "/api/v1/mass/speed", None).await;
    assert_eq!(
        (s["speed"].as_u64(), s["realspeed"].as_u64()),
        (Some(3), Some(30))
    );
    let (status, _) = host
        .api(Method::PUT, "/api/v1/mass/speed", Some(json!({"speed": 9})))
        .await;
    assert_eq!(status, 400);
}
