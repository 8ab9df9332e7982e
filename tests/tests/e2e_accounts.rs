//! Several Official Accounts in one process: each account's pushes are
//! authenticated, decrypted and sealed with its own Token and key, reach only
//! its plugins, keep their kv apart, and call WeChat with its own
//! access_token (fetched with its own AppID); accounts added through the
//! admin API serve within 2 s on every instance sharing the store, and stop
//! when removed.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use wxhost_tests::console::Console;

use wxhost::protocol::{self, AesKey, Mode, MsgCrypt, Push, signed_request};
use wxhost_tests::fake_wechat::{APP_ID, APP_SECRET, FakeWechat, paths};
use wxhost_tests::service::{AES_KEY, TOKEN, Wxhost};

/// One account as WeChat knows it: what it signs and encrypts with.
struct Wechat {
    token: &'static str,
    crypt: MsgCrypt,
}

impl Wechat {
    fn new(app_id: &'static str, token: &'static str, key: &str) -> Wechat {
        Wechat {
            token,
            crypt: MsgCrypt::new(AesKey::from_encoding_aes_key(key).unwrap(), app_id),
        }
    }

    /// Posts `text` from a user to `url` the way WeChat pushes for this
    /// account (safe mode); returns the status and the opened reply.
    async fn push(&self, _host: &Wxhost, url: &str, text: &str, msg_id: u64) -> (u16, String) {
        self.post(url, text, msg_id).await
    }

    async fn post(&self, url: &str, text: &str, msg_id: u64) -> (u16, String) {
        let now = wxhost::unix_now();
        let xml = Push::Text(text.into()).to_xml("gh_test", "o_user", now, msg_id);
        let (url, body) = signed_request(url, self.token, Some(&self.crypt), Mode::Safe, &xml, now);
        let res = reqwest::Client::new()
            .post(url)
            .body(body)
            .send()
            .await
            .expect("POST");
        let (status, body) = (res.status().as_u16(), res.text().await.unwrap_or_default());
        if status != 200 || body == "success" {
            return (status, body);
        }
        let opened = protocol::open_reply(self.token, &self.crypt, &body)
            .unwrap_or_else(|e| panic!("reply not sealed with this account's key: {e:?}"));
        (status, opened)
    }
}

const SHOP_KEY: &str = "bbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const CLUB_KEY: &str = "cbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const SHOP_APP_ID: &str = "wxshop0000000001";
const CLUB_APP_ID: &str = "wxclub0000000001";
const SHOP_SECRET: &str = "shop-secret-0123456789abcdef0123";

const CONFIG: &str = r#"
[account.shop]
app_id = "wxshop0000000001"
[account.club]
app_id = "wxclub0000000001"
token = "clubtoken"
encoding_aes_key = "cbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
plugins = ["echo"]
[plugin.fixture]
priority = 10
timeout_ms = 4000
"#;

fn accounts() -> (Wechat, Wechat, Wechat) {
    (
        Wechat::new(APP_ID, TOKEN, AES_KEY),
        Wechat::new(SHOP_APP_ID, "shoptoken", SHOP_KEY),
        Wechat::new(CLUB_APP_ID, "clubtoken", CLUB_KEY),
    )
}

/// Secrets of `shop` come from the environment, as in production.
fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("WXHOST_ACCOUNT_SHOP_TOKEN", "shoptoken"),
        ("WXHOST_ACCOUNT_SHOP_ENCODING_AES_KEY", SHOP_KEY),
    ]
}

#[tokio::test]
async fn three_accounts_each_answer_with_their_own_keys_plugins_and_kv() {
    let host = Wxhost::start(&["fixture", "echo"], CONFIG, &env()).await;
    let (default, shop, club) = accounts();
    let at = |app_id: &str| format!("{}/{app_id}", host.url);

    // The default account keeps `server.path`, and is also at its AppID.
    let (status, reply) = default.push(&host, &host.url, "reply:text", 1).await;
    assert_eq!(status, 200, "{}", host.log());
    assert!(reply.contains("text reply"), "{reply}");
    let (_, reply) = default.push(&host, &at(APP_ID), "reply:text", 2).await;
    assert!(reply.contains("text reply"), "{reply}");

    // Each account: its own key opens the reply (`push` asserts it), which
    // is addressed from its own AppID's user.
    let (status, reply) = shop
        .push(&host, &at(SHOP_APP_ID), "kv:set:colour=red", 3)
        .await;
    assert_eq!(status, 200, "{}", host.log());
    assert!(reply.contains("set colour"), "{reply}");
    let (_, reply) = shop.push(&host, &at(SHOP_APP_ID), "kv:get:colour", 4).await;
    assert!(reply.contains("value red"), "{reply}");

    // The plugin sees the account it serves (the WIT 1.0 context).
    let (_, reply) = shop.push(&host, &at(SHOP_APP_ID), "account", 31).await;
    assert!(
        reply.contains(&format!("account shop {SHOP_APP_ID} gh_test")),
        "{reply}"
    );
    let (_, reply) = default.push(&host, &host.url, "account", 32).await;
    assert!(
        reply.contains(&format!("account default {APP_ID} gh_test")),
        "{reply}"
    );

    // The same plugin, the same key, another account: nothing there.
    let (_, reply) = default.push(&host, &host.url, "kv:get:colour", 5).await;
    assert!(reply.contains("no value"), "{reply}");

    // `plugins = ["echo"]`: the fixture never serves club.
    let (status, reply) = club.push(&host, &at(CLUB_APP_ID), "kv:get:colour", 6).await;
    assert_eq!(status, 200);
    assert!(
        reply.contains("<Content><![CDATA[kv:get:colour]]></Content>"),
        "{reply}"
    );

    // Signed and encrypted for one account, posted to another's URL.
    let (status, body) = shop.push(&host, &at(CLUB_APP_ID), "reply:text", 7).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = club.push(&host, &host.url, "reply:text", 8).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = default.push(&host, &at(SHOP_APP_ID), "reply:text", 9).await;
    assert_eq!(status, 403);
    // An AppID nobody serves.
    let (status, body) = shop
        .push(&host, &at("wxnobody000000001"), "reply:text", 10)
        .await;
    assert_eq!((status, body.as_str()), (404, "unknown-account"));

    // `simulate --account shop` signs with shop's keys and posts to shop's
    // URL (after the subcommand or before it).
    for args in [
        &["--account", "shop", "simulate", "--text", "kv:get:colour"][..],
        &["simulate", "--text", "kv:get:colour", "--account", "shop"],
    ] {
        let out = wxhost_tests::service::cli(host.dir.path())
            .args(args)
            .env("WXHOST_LISTEN", format!("127.0.0.1:{}", host.port))
            .env("WXHOST_ACCOUNT_SHOP_TOKEN", "shoptoken")
            .env("WXHOST_ACCOUNT_SHOP_ENCODING_AES_KEY", SHOP_KEY)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("/wechat/{SHOP_APP_ID}")),
            "{stdout}"
        );
        assert!(stdout.contains("value red"), "{stdout}");
    }

    // The push log line names its account.
    let log = host.log();
    assert!(
        log.lines()
            .any(|l| l.contains("push") && l.contains("account=shop")),
        "{log}"
    );
    assert!(!log.contains(SHOP_KEY) && !log.contains("shoptoken"));
}

#[tokio::test]
async fn each_account_fetches_its_own_token_and_a_late_reply_goes_out_with_it() {
    let fake = FakeWechat::start().await;
    fake.add_app(SHOP_APP_ID, SHOP_SECRET);
    let base = fake.base_url();
    let mut env = env();
    env.extend([
        ("WXHOST_BUDGET_MS", "300"),
        ("WXHOST_API_BASE_URL", base.as_str()),
        ("WXHOST_APP_SECRET", APP_SECRET),
        ("WXHOST_ACCOUNT_SHOP_APP_SECRET", SHOP_SECRET),
    ]);
    let host = Wxhost::start(&["fixture"], CONFIG, &env).await;
    let (default, shop, _) = accounts();

    // Too slow for the budget: the reply goes out as a customer-service
    // message, which WeChat must receive with shop's token.
    let (status, body) = shop
        .push(
            &host,
            &format!("{}/{SHOP_APP_ID}", host.url),
            "sleep:800",
            11,
        )
        .await;
    assert_eq!((status, body.as_str()), (200, "success"));
    let sent = fake
        .wait_for_request(paths::CUSTOM_SEND, 0, Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("no customer message; log:\n{}", host.log()));
    assert_eq!(sent["text"]["content"], "slept 800 ms, call 1");
    assert_eq!(fake.apps_called(paths::CUSTOM_SEND), [SHOP_APP_ID]);
    let fetched_for = |fake: &FakeWechat| -> Vec<String> {
        fake.requests(paths::STABLE_TOKEN)
            .iter()
            .map(|r| r["appid"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(fetched_for(&fake), [SHOP_APP_ID]);

    // The default account's late reply: its own token, fetched for its AppID.
    let (_, body) = default.push(&host, &host.url, "sleep:700", 12).await;
    assert_eq!(body, "success");
    let sent = fake
        .wait_for_request(paths::CUSTOM_SEND, 1, Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("no second customer message; log:\n{}", host.log()));
    assert_eq!(sent["text"]["content"], "slept 700 ms, call 1");
    assert_eq!(fake.apps_called(paths::CUSTOM_SEND), [SHOP_APP_ID, APP_ID]);
    assert_eq!(fetched_for(&fake), [SHOP_APP_ID, APP_ID]);
    let log = host.log();
    assert!(!log.contains(SHOP_SECRET) && !log.contains(APP_SECRET));
}

const SECRETS_KEY: &str = "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const POP_APP_ID: &str = "wxpop00000000001";
const POP_KEY: &str = "dbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const POP_SECRET: &str = "pop-app-secret-0123456789abcdef";

async fn api_json(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Pushes `text` to `url` for `who` until it answers 200 (or `within`
/// passes); how long that took, and the last answer.
async fn served_within(who: &Wechat, url: &str, within: Duration) -> (Duration, u16, String) {
    let started = Instant::now();
    let mut msg_id = 1000;
    loop {
        msg_id += 1;
        let (status, body) = who.post(url, "hello pop", msg_id).await;
        if status == 200 || started.elapsed() > within {
            return (started.elapsed(), status, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_account_added_through_the_api_serves_within_two_seconds_everywhere_and_removal_stops_it()
 {
    let key = [("WXHOST_SECRETS_KEY", SECRETS_KEY)];
    let one = Console::start_with(&["echo"], "", &key, None).await;
    // A second instance on the same store (the same data dir).
    let data = one.dir.path().join("data").display().to_string();
    let two = Console::start_with(
        &["echo"],
        "",
        &[
            ("WXHOST_SECRETS_KEY", SECRETS_KEY),
            ("WXHOST_DATA_DIR", &data),
        ],
        None,
    )
    .await;
    let pop = Wechat::new(POP_APP_ID, "poptoken", POP_KEY);
    let url_one = format!("{}/wechat/{POP_APP_ID}", one.callback_base);
    let url_two = format!("{}/wechat/{POP_APP_ID}", two.callback_base);
    assert_eq!(pop.post(&url_one, "hello", 1).await.0, 404);

    let (status, body) = api_json(one.api(Method::POST, "/api/v1/accounts").json(&json!({
        "name": "pop",
        "app_id": POP_APP_ID,
        "token": "poptoken",
        "encoding_aes_key": POP_KEY,
        "app_secret": POP_SECRET,
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["account"]["has_app_secret"], true);
    assert_eq!(body["account"]["serving"], true);

    for url in [&url_one, &url_two] {
        let (took, status, reply) = served_within(&pop, url, Duration::from_secs(5)).await;
        assert_eq!(status, 200, "{url}: {reply}");
        assert!(
            took < Duration::from_secs(2),
            "{url}: served after {took:?}"
        );
        assert!(reply.contains("hello pop"), "{reply}");
    }

    // Listed with the config's account; never a credential.
    let (status, body) = api_json(one.api(Method::GET, "/api/v1/accounts")).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "pop"]);
    let text = body.to_string();
    for secret in [POP_SECRET, POP_KEY, "poptoken", SECRETS_KEY] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    // The console's Accounts page lists it, without a credential.
    let session = one.login().await;
    let page = one.page(&session.cookie, "/accounts").await;
    assert!(
        page.contains(POP_APP_ID) && page.contains("runtime"),
        "{page}"
    );
    for secret in [POP_SECRET, POP_KEY, "poptoken"] {
        assert!(!page.contains(secret), "{secret} on the page");
    }

    // Nor stored in clear.
    let db = std::fs::read(one.dir.path().join("data/wxhost.db")).unwrap();
    let wal = std::fs::read(one.dir.path().join("data/wxhost.db-wal")).unwrap_or_default();
    for secret in [POP_SECRET, POP_KEY, "poptoken"] {
        let s = secret.as_bytes();
        assert!(
            !db.windows(s.len()).any(|w| w == s),
            "{secret} in the database"
        );
        assert!(!wal.windows(s.len()).any(|w| w == s), "{secret} in the WAL");
    }

    // Bad input changes nothing.
    let (status, body) = api_json(one.api(Method::POST, "/api/v1/accounts").json(&json!({
        "name": "twin", "app_id": POP_APP_ID, "token": "t",
    })))
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = api_json(one.api(Method::POST, "/api/v1/accounts").json(&json!({
        "name": "bad", "app_id": "wxbad", "token": "t", "secret": "x",
    })))
    .await;
    assert_eq!(status, 400, "{body}");

    // `?account=` scopes the admin API: pop's QR code is created with pop's
    // token, stored and audited in pop's scope only.
    one.fake.add_app(POP_APP_ID, POP_SECRET);
    let (status, body) = api_json(
        one.api(Method::POST, "/api/v1/qrcodes?account=pop")
            .json(&json!({"scene": "pop-door", "permanent": true})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(one.fake.apps_called(paths::QRCODE_CREATE), [POP_APP_ID]);
    let scenes = |body: &Value| -> Vec<String> {
        body["qrcodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["scene"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, body) = api_json(one.api(Method::GET, "/api/v1/qrcodes?account=pop")).await;
    assert_eq!(scenes(&body), ["pop-door"]);
    let (_, body) = api_json(one.api(Method::GET, "/api/v1/qrcodes")).await;
    assert!(scenes(&body).is_empty(), "{body}");
    let actions = |body: &Value| -> Vec<String> {
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, body) = api_json(one.api(Method::GET, "/api/v1/audit?account=pop")).await;
    assert_eq!(actions(&body), ["qrcode_create"]);
    let (_, body) = api_json(one.api(Method::GET, "/api/v1/audit")).await;
    assert!(
        !actions(&body).contains(&"qrcode_create".to_owned()),
        "{body}"
    );
    let (status, _) = api_json(one.api(Method::GET, "/api/v1/menu?account=nope")).await;
    assert_eq!(status, 404);

    let (status, _) = api_json(one.api(Method::DELETE, "/api/v1/accounts/pop")).await;
    assert_eq!(status, 204);
    for url in [&url_one, &url_two] {
        let started = Instant::now();
        loop {
            let (status, _) = pop.post(url, "hello", 2).await;
            if status == 404 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{url} still serves pop"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (_, audit) = api_json(one.api(Method::GET, "/api/v1/audit")).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"account_add") && actions.contains(&"account_remove"));
}

#[tokio::test]
async fn without_a_secrets_key_runtime_accounts_are_refused_with_a_message() {
    let c = Console::start(&["echo"]).await;
    let (status, body) = api_json(c.api(Method::POST, "/api/v1/accounts").json(&json!({
        "name": "pop", "app_id": POP_APP_ID, "token": "poptoken",
    })))
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("WXHOST_SECRETS_KEY"),
        "{body}"
    );
    let (_, body) = api_json(c.api(Method::GET, "/api/v1/accounts")).await;
    assert_eq!(body["accounts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn on_redis_two_instances_share_each_accounts_data_and_keep_accounts_apart() {
    let redis = wxhost_tests::redis_server::RedisServer::start().await;
    let mut env: Vec<(String, String)> = redis.env("acc:");
    env.push(("WXHOST_SECRETS_KEY".into(), SECRETS_KEY.into()));
    env.push((
        "WXHOST_ADMIN_API_TOKEN".into(),
        "redis-accounts-api-token-0123".into(),
    ));
    env.extend(env_owned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let one = Wxhost::start(&["fixture"], CONFIG, &env).await;
    let two = Wxhost::start(&["fixture"], CONFIG, &env).await;
    let (default, shop, _) = accounts();
    let shop_at = |h: &Wxhost| format!("{}/{SHOP_APP_ID}", h.url);

    let (status, reply) = shop
        .push(&one, &shop_at(&one), "kv:set:colour=red", 21)
        .await;
    assert_eq!(status, 200, "{}", one.log());
    assert!(reply.contains("set colour"), "{reply}");
    // The other instance, the same account: the same kv.
    let (_, reply) = shop.push(&two, &shop_at(&two), "kv:get:colour", 22).await;
    assert!(reply.contains("value red"), "{reply}");
    // The other account: none of it, on either instance.
    let (_, reply) = default.push(&two, &two.url, "kv:get:colour", 23).await;
    assert!(reply.contains("no value"), "{reply}");

    // Read back in process: shop's data in shop's scope, none in the
    // default account's (the prefix a single-account deployment used).
    let stores = redis.stores("acc:");
    assert_eq!(stores.kv.get("fixture", "colour").await.unwrap(), None);
    let shop_stores = stores.for_account("shop").unwrap();
    assert_eq!(
        shop_stores
            .kv
            .get("fixture", "colour")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"red"[..])
    );
}

fn env_owned() -> Vec<(String, String)> {
    env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test]
async fn on_redis_a_runtime_account_reaches_every_instance_sealed() {
    use wxhost::account::{Accounts, SecretsKey};
    let redis = wxhost_tests::redis_server::RedisServer::start().await;
    let config = wxhost::config::Config::from_toml("redis", "", &[]).unwrap();
    let instance = || {
        Accounts::from_config(
            &config,
            &redis.stores("rt:"),
            Some(SecretsKey::from_hex(SECRETS_KEY).unwrap()),
        )
        .unwrap()
    };
    let (one, two) = (instance(), instance());
    let pop: wxhost::config::AccountConfig = serde_json::from_value(json!({
        "app_id": POP_APP_ID, "token": "poptoken", "app_secret": POP_SECRET,
    }))
    .unwrap();
    one.put("pop", pop, false).await.unwrap();
    two.sync().await.unwrap();
    let served = two
        .by_app_id(POP_APP_ID)
        .expect("pop on the second instance");
    assert_eq!(served.settings.wechat.app_secret, POP_SECRET);
    let stored = redis.stores("rt:").accounts.list().await.unwrap();
    assert_eq!(stored.len(), 1);
    let raw = format!("{}{:?}", stored[0].settings, stored[0].secrets);
    assert!(
        !raw.contains(POP_SECRET) && !raw.contains("poptoken"),
        "{raw}"
    );
    one.remove("pop").await.unwrap();
    two.sync().await.unwrap();
    assert!(two.by_app_id(POP_APP_ID).is_none());
}

#[test]
fn the_cli_acts_for_the_account_named_by_a_global_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wxhost.toml"), CONFIG).unwrap();
    let run = |args: &[&str]| {
        let out = wxhost_tests::service::cli(dir.path())
            .args(args)
            .env("WXHOST_ACCOUNT_SHOP_TOKEN", "shoptoken")
            .env("WXHOST_ACCOUNT_SHOP_ENCODING_AES_KEY", SHOP_KEY)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Before or after the subcommand.
    for args in [
        &["--account", "shop", "config"][..],
        &["config", "--account", "shop"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains(SHOP_APP_ID), "{out}");
        assert!(out.contains(&format!("/wechat/{SHOP_APP_ID}")), "{out}");
        assert!(
            !out.contains("shoptoken") && !out.contains(SHOP_KEY),
            "{out}"
        );
    }
    let (code, _, err) = run(&["--account", "nope", "config"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no account nope"), "{err}");
}

#[tokio::test]
async fn a_plugin_switched_off_for_one_account_keeps_serving_the_others() {
    let port = wxhost_tests::service::free_port();
    let admin = format!("127.0.0.1:{port}");
    let api_token = "accounts-switch-api-token-0123456789";
    let mut env = env();
    env.extend([
        ("WXHOST_ADMIN_API_TOKEN", api_token),
        ("WXHOST_ADMIN_LISTEN", admin.as_str()),
    ]);
    let host = Wxhost::start(&["echo"], CONFIG, &env).await;
    let (default, shop, club) = accounts();
    let at = |app_id: &str| format!("{}/{app_id}", host.url);
    let http = reqwest::Client::new();
    let switch = |what: &'static str, account: &'static str| {
        let req = http
            .post(format!(
                "http://{admin}/api/v1/plugins/echo/{what}?account={account}"
            ))
            .bearer_auth(api_token);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or_default())
        }
    };
    let (status, body) = switch("disable", "shop").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["account"], "shop");

    // Off for shop: its push gets no echo; the default and club still do.
    let (_, reply) = shop.push(&host, &at(SHOP_APP_ID), "hello shop", 1).await;
    assert_eq!(reply, "success", "{}", host.log());
    let (_, reply) = default.push(&host, &host.url, "hello default", 2).await;
    assert!(reply.contains("hello default"), "{reply}");
    let (_, reply) = club.push(&host, &at(CLUB_APP_ID), "hello club", 3).await;
    assert!(reply.contains("hello club"), "{reply}");

    // Listed as off for shop only.
    let list = |account: &'static str| {
        let req = http
            .get(format!("http://{admin}/api/v1/plugins?account={account}"))
            .bearer_auth(api_token);
        async move {
            let v: Value = req.send().await.unwrap().json().await.unwrap();
            let echo = v["plugins"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == "echo")
                .cloned()
                .unwrap();
            echo["state"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(list("shop").await, "disabled");
    assert_eq!(list("default").await, "serving");

    // Survives a restart (kept in the store), and on again serves shop.
    let mut host = host;
    host.restart().await;
    let (_, reply) = shop
        .push(&host, &format!("{}/{SHOP_APP_ID}", host.url), "again", 4)
        .await;
    assert_eq!(reply, "success");
    let (status, _) = switch("enable", "shop").await;
    assert_eq!(status, 200);
    let (_, reply) = shop
        .push(&host, &format!("{}/{SHOP_APP_ID}", host.url), "back", 5)
        .await;
    assert!(reply.contains("back"), "{reply}\n{}", host.log());
    // An unknown account or plugin is refused.
    assert_eq!(switch("disable", "nobody").await.0, 404);
}
