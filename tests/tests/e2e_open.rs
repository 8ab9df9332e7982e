//! The Open Platform third-party mode end to end, against the fake WeChat's
//! component endpoints (`fake_open.rs`): a ticket push gives the platform
//! its token; an account authorizes (through the redirect and through the
//! push, one `api_query_auth` per code) and is served at
//! `/open/<appid>/callback` by plugins with the platform's keys and its own
//! authorizer token (rotated refresh token kept); it survives a restart,
//! stops when it withdraws and comes back with its data when it authorizes
//! again; the release responder answers WeChat's test accounts; `wxhost
//! open recover` restores a wiped store; two instances on Redis fetch each
//! authorizer token once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wxhost::protocol::Push;
use wxhost_tests::fake_open::{
    COMPONENT_AES_KEY, COMPONENT_APP_ID, COMPONENT_SECRET, COMPONENT_TOKEN, OpenWechat, paths,
};
use wxhost_tests::fake_wechat::{FakeWechat, paths as api_paths};
use wxhost_tests::redis_server::RedisServer;
use wxhost_tests::service::{Wxhost, binary, free_port};

const SECRETS_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const API_TOKEN: &str = "open-api-token-0123456789abcdef0123";
const SHOP: &str = "wxa1b2c3d4e5f60001";
const CLUB: &str = "wxa1b2c3d4e5f60002";
/// One of WeChat's release-test accounts.
const TEST_OA: &str = "wx570bc396a51b8ff8";
const TEST_OA_2: &str = "wx9252c5e0bb1836fc";

fn config() -> String {
    format!(
        "[open_platform]\ncomponent_app_id = \"{COMPONENT_APP_ID}\"\ntoken = \"{COMPONENT_TOKEN}\"\n\
         [plugin.fixture]\ncapabilities = [\"customer-message\", \"qrcode\"]\n"
    )
}

/// The platform's secrets, the secrets key, an admin API on `admin_port`.
fn env(admin_port: u16) -> Vec<(String, String)> {
    vec![
        (
            "WXHOST_COMPONENT_APP_SECRET".into(),
            COMPONENT_SECRET.into(),
        ),
        (
            "WXHOST_COMPONENT_ENCODING_AES_KEY".into(),
            COMPONENT_AES_KEY.into(),
        ),
        ("WXHOST_SECRETS_KEY".into(), SECRETS_KEY.into()),
        ("WXHOST_ADMIN_API_TOKEN".into(), API_TOKEN.into()),
        (
            "WXHOST_ADMIN_LISTEN".into(),
            format!("127.0.0.1:{admin_port}"),
        ),
    ]
}

struct Platform {
    host: Wxhost,
    admin: String,
    wechat: OpenWechat,
    http: reqwest::Client,
}

impl Platform {
    async fn start(fake: &FakeWechat, extra: &[(String, String)]) -> Platform {
        let admin_port = free_port();
        let mut all = env(admin_port);
        all.extend_from_slice(extra);
        let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let host = Wxhost::start_against(fake, &["fixture"], &config(), &all).await;
        Platform {
            admin: format!("http://127.0.0.1:{admin_port}"),
            host,
            wechat: OpenWechat::new(),
            http: reqwest::Client::new(),
        }
    }

    fn origin(&self) -> String {
        self.host.origin()
    }

    /// Posts a platform notice to `/open/notify`; asserts `success`.
    async fn notice(&self, xml: &str) {
        let (status, body) = self
            .wechat
            .post(&format!("{}/open/notify", self.origin()), xml)
            .await;
        assert_eq!(
            (status, body.as_str()),
            (200, "success"),
            "{}",
            self.host.log()
        );
    }

    /// A user's text to `app_id` through `/open/<appid>/callback`: the
    /// status and the opened reply.
    async fn say(&self, app_id: &str, text: &str, msg_id: u64) -> (u16, String) {
        let xml = Push::Text(text.into()).to_xml(
            "gh_user_facing",
            "o_open_user",
            wxhost::unix_now(),
            msg_id,
        );
        self.post(app_id, &xml).await
    }

    async fn post(&self, app_id: &str, xml: &str) -> (u16, String) {
        let url = format!("{}/open/{app_id}/callback", self.origin());
        let (status, body) = self.wechat.post(&url, xml).await;
        if status != 200 || body.is_empty() || body == "success" {
            return (status, body);
        }
        (status, self.wechat.open(&body))
    }

    /// Waits (≤ 5 s) until `app_id` answers `text` with something containing `want`.
    async fn says(&self, app_id: &str, text: &str, want: &str, msg_id: &mut u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            *msg_id += 1;
            let (status, reply) = self.say(app_id, text, *msg_id).await;
            if status == 200 && reply.contains(want) {
                return reply;
            }
            assert!(
                Instant::now() < deadline,
                "{app_id} never answered {text:?} with {want:?} (last: {status} {reply:?})\n{}",
                self.host.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(API_TOKEN);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("admin API");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.host.get(&format!("{}{path}", self.origin())).await
    }
}

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

/// The customer-service texts the fake received for `to`.
fn sent_texts(fake: &FakeWechat, to: &str) -> Vec<String> {
    fake.requests(api_paths::CUSTOM_SEND)
        .iter()
        .filter(|b| b["touser"] == to)
        .filter_map(|b| b["text"]["content"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_authorized_account_is_served_survives_a_restart_stops_when_it_withdraws_and_returns_intact()
 {
    let fake = FakeWechat::start().await;
    fake.open_add_account(SHOP, "gh_shop00000001", "Shop", &[1, 2, 7]);
    // Club grants no message management (set 1).
    fake.open_add_account(CLUB, "gh_club00000001", "Club", &[2, 7]);
    let mut p = Platform::start(&fake, &[]).await;
    let mut msg = 0;

    // No ticket stored at start: WeChat is asked to push one.
    assert!(
        eventually(Duration::from_secs(5), || async {
            fake.calls(paths::START_PUSH_TICKET) >= 1
        })
        .await,
        "{}",
        p.host.log()
    );
    // Before a ticket, a link cannot be made, and says why.
    let (status, body) = p
        .api(
            reqwest::Method::POST,
            "/api/v1/open/authorize",
            Some(json!({})),
        )
        .await;
    assert!(status >= 400, "{status} {body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("component_verify_ticket"),
        "{body}"
    );

    // A ticket push → the platform token → a pre_auth_code and the links.
    p.notice(&OpenWechat::ticket(&fake.open_issue_ticket()))
        .await;
    let (status, body) = p
        .api(
            reqwest::Method::POST,
            "/api/v1/open/authorize",
            Some(json!({"auth_type": 1})),
        )
        .await;
    assert_eq!(status, 200, "{body}\n{}", p.host.log());
    let url = body["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://mp.weixin.qq.com/cgi-bin/componentloginpage?"),
        "{url}"
    );
    assert!(
        url.contains(&format!("component_appid={COMPONENT_APP_ID}")),
        "{url}"
    );
    assert!(url.contains("pre_auth_code=preauthcode%40%40%40"), "{url}");
    let redirect: String =
        url::form_urlencoded::byte_serialize(format!("{}/open/authorized", p.origin()).as_bytes())
            .collect();
    assert!(
        url.contains(&format!("redirect_uri={redirect}")) && url.contains("auth_type=1"),
        "{url}"
    );
    let (_, body) = p
        .api(
            reqwest::Method::POST,
            "/api/v1/open/authorize",
            Some(json!({"mobile": true, "biz_appid": SHOP})),
        )
        .await;
    let mobile = body["url"].as_str().unwrap();
    assert!(
        mobile.contains("bindcomponent")
            && mobile.contains(&format!("biz_appid={SHOP}"))
            && !mobile.contains("auth_type"),
        "{mobile}"
    );
    assert_eq!(fake.calls(paths::COMPONENT_TOKEN), 1);

    // Shop authorizes: the redirect arrives first, then the push with the
    // same code: one exchange.
    let code = fake.open_authorize(SHOP);
    let (status, page) = p
        .get(&format!("/open/authorized?auth_code={code}&expires_in=600"))
        .await;
    assert_eq!(status, 200, "{page}\n{}", p.host.log());
    assert!(page.contains("Shop") && page.contains(SHOP), "{page}");
    p.notice(&OpenWechat::authorized(SHOP, &code)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.open_query_auth_calls(&code), 1, "{}", p.host.log());

    // Served through a plugin, with the platform's keys (`say` opens the
    // reply with them), as account `SHOP` with its own kv.
    let reply = p.says(SHOP, "account", "account", &mut msg).await;
    assert!(reply.contains(&format!("account {SHOP} {SHOP}")), "{reply}");
    p.says(SHOP, "kv:set:colour=red", "set colour", &mut msg)
        .await;
    // Its API calls use the token the exchange gave, as Shop.
    p.says(SHOP, "api:send", "sent", &mut msg).await;
    assert!(
        fake.apps_called(api_paths::CUSTOM_SEND)
            .iter()
            .all(|a| a == SHOP)
    );
    assert_eq!(fake.open_authorizer_token_fetches(SHOP), 0);

    // The token expires: a new one from api_authorizer_token, whose rotated
    // refresh token is kept (the next fetch works with it).
    let first_refresh = fake.open_refresh_token(SHOP).unwrap();
    fake.expire_tokens();
    p.says(SHOP, "api:send", "sent", &mut msg).await;
    assert_eq!(fake.open_authorizer_token_fetches(SHOP), 1);
    assert_ne!(fake.open_refresh_token(SHOP).unwrap(), first_refresh);
    fake.expire_tokens();
    p.says(SHOP, "api:send", "sent", &mut msg).await;
    assert_eq!(
        fake.open_authorizer_token_fetches(SHOP),
        2,
        "{}",
        p.host.log()
    );

    // Club authorizes through the push first; its redirect finds the code taken.
    let code2 = fake.open_authorize(CLUB);
    p.notice(&OpenWechat::authorized(CLUB, &code2)).await;
    let (status, page) = p
        .get(&format!(
            "/open/authorized?auth_code={code2}&expires_in=600"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    p.says(CLUB, "account", &format!("account {CLUB}"), &mut msg)
        .await;
    assert_eq!(fake.open_query_auth_calls(&code2), 1);
    // A capability outside its permission sets fails at once, naming the set.
    let reply = p.says(CLUB, "api:send", "refused", &mut msg).await;
    assert!(reply.contains("permission set 1 "), "{reply}");
    assert!(
        !fake
            .apps_called(api_paths::CUSTOM_SEND)
            .iter()
            .any(|a| a == CLUB)
    );
    // The admin API acts for it by its app id.
    let (status, body) = p
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/token?account={CLUB}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Listed with their gh_ ids, names, permission sets and state.
    let (_, body) = p
        .api(reqwest::Method::GET, "/api/v1/open/authorizers", None)
        .await;
    let list = body["authorizers"].as_array().unwrap();
    let shop = list.iter().find(|a| a["app_id"] == SHOP).unwrap();
    assert_eq!(shop["user_name"], "gh_shop00000001");
    assert_eq!(shop["nick_name"], "Shop");
    assert_eq!(shop["func_info"], json!([1, 2, 7]));
    assert_eq!(shop["state"], "active");
    assert_eq!(shop["serving"], true);

    // A restart: served again without a new authorization.
    p.host.restart().await;
    let before = fake.calls(paths::QUERY_AUTH);
    p.says(SHOP, "kv:get:colour", "value red", &mut msg).await;
    fake.expire_tokens();
    p.says(SHOP, "api:send", "sent", &mut msg).await;
    assert_eq!(fake.calls(paths::QUERY_AUTH), before);
    assert_eq!(fake.open_authorizer_token_fetches(SHOP), 3);

    // Shop withdraws: no longer served, its tokens gone. (The notice is
    // kept as posted, to be replayed below.)
    fake.open_unauthorize(SHOP);
    let withdrawal = wxhost::protocol::signed_request(
        &format!("{}/open/notify", p.origin()),
        COMPONENT_TOKEN,
        Some(&wxhost::protocol::MsgCrypt::new(
            wxhost::protocol::AesKey::from_encoding_aes_key(COMPONENT_AES_KEY).unwrap(),
            COMPONENT_APP_ID,
        )),
        wxhost::protocol::Mode::Safe,
        &OpenWechat::unauthorized(SHOP),
        wxhost::unix_now(),
    );
    let (status, body) = p.host.post_raw(&withdrawal.0, withdrawal.1.clone()).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "success"),
        "{}",
        p.host.log()
    );
    let stopped = eventually(Duration::from_secs(5), || async {
        p.say(SHOP, "account", 900).await.0 == 404
    })
    .await;
    assert!(stopped, "{}", p.host.log());
    let (_, body) = p
        .api(reqwest::Method::GET, "/api/v1/open/authorizers", None)
        .await;
    let shop = body["authorizers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == SHOP)
        .cloned()
        .unwrap();
    assert_eq!(
        (shop["state"].as_str(), shop["serving"].as_bool()),
        (Some("unauthorized"), Some(false))
    );
    // Club is untouched.
    p.says(CLUB, "account", &format!("account {CLUB}"), &mut msg)
        .await;

    // Shop authorizes again: its data is where it left it.
    let code3 = fake.open_authorize(SHOP);
    let (status, _) = p
        .get(&format!(
            "/open/authorized?auth_code={code3}&expires_in=600"
        ))
        .await;
    assert_eq!(status, 200);
    p.says(SHOP, "kv:get:colour", "value red", &mut msg).await;
    p.says(SHOP, "api:send", "sent", &mut msg).await;
    // The old withdrawal, captured and posted again within its window:
    // answered, and shop stays served.
    let (status, body) = p.host.post_raw(&withdrawal.0, withdrawal.1).await;
    assert_eq!((status, body.as_str()), (200, "success"));
    // Decided before the answer (the log line is written first).
    assert!(
        p.host
            .log()
            .contains("a repeated unauthorized notice ignored"),
        "{}",
        p.host.log()
    );
    p.says(SHOP, "kv:get:colour", "value red", &mut msg).await;

    // A used code, an unknown one, a forged notice: refused, nothing changes.
    let (status, _) = p.get(&format!("/open/authorized?auth_code={code3}")).await;
    assert_eq!(status, 200, "a second delivery of a code is not an error");
    let (status, page) = p
        .get("/open/authorized?auth_code=queryauthcode@@@nope")
        .await;
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("61010"), "{page}");
    let forged = wxhost::protocol::signed_request(
        &format!("{}/open/notify", p.origin()),
        "wrongtoken",
        Some(&wxhost::protocol::MsgCrypt::new(
            wxhost::protocol::AesKey::from_encoding_aes_key(COMPONENT_AES_KEY).unwrap(),
            COMPONENT_APP_ID,
        )),
        wxhost::protocol::Mode::Safe,
        &OpenWechat::unauthorized(CLUB),
        wxhost::unix_now(),
    );
    let (status, _) = p.host.post_raw(&forged.0, forged.1).await;
    assert_eq!(status, 403, "{}", p.host.log());
    p.says(CLUB, "account", &format!("account {CLUB}"), &mut msg)
        .await;
    // A directly configured account is not served under /open/.
    let (status, _) = p
        .say(wxhost_tests::fake_wechat::APP_ID, "account", 950)
        .await;
    assert_eq!(status, 404);
    // Secrets never reach the log.
    let log = p.host.log();
    for secret in [COMPONENT_SECRET, COMPONENT_AES_KEY, &first_refresh] {
        assert!(!log.contains(secret), "a secret is in the log");
    }
}

#[tokio::test]
async fn the_release_responder_answers_wechat_s_three_cases() {
    let fake = FakeWechat::start().await;
    fake.open_add_account(TEST_OA, "gh_3c884a361561", "Test 1", &[1]);
    fake.open_add_account(TEST_OA_2, "gh_c0f28a78b318", "Test 2", &[1]);
    let p = Platform::start(&fake, &[]).await;
    p.notice(&OpenWechat::ticket(&fake.open_issue_ticket()))
        .await;

    // The test account authorizes by itself (the push carries the code).
    let code = fake.open_authorize(TEST_OA);
    p.notice(&OpenWechat::authorized(TEST_OA, &code)).await;

    // 1. The text case: a passive reply.
    let (status, reply) = p.say(TEST_OA, "TESTCOMPONENT_MSG_TYPE_TEXT", 1).await;
    assert_eq!(status, 200, "{}", p.host.log());
    assert!(
        reply.contains("<Content><![CDATA[TESTCOMPONENT_MSG_TYPE_TEXT_callback]]></Content>"),
        "{reply}"
    );
    // 2. The event case.
    let event = format!(
        "<xml><ToUserName><![CDATA[gh_3c884a361561]]></ToUserName><FromUserName><![CDATA[o_tester]]></FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[LOCATION]]></Event><Latitude>23.1</Latitude><Longitude>113.3</Longitude><Precision>119.3</Precision></xml>",
        wxhost::unix_now()
    );
    let (status, reply) = p.post(TEST_OA, &event).await;
    assert_eq!(status, 200);
    assert!(reply.contains("LOCATIONfrom_callback"), "{reply}");
    // 3. QUERY_AUTH_CODE: an empty answer, then `<code>_from_api` by
    // customer service with the account's token; the code the push
    // already exchanged is not exchanged again.
    let (status, body) = p.say(TEST_OA, &format!("QUERY_AUTH_CODE:{code}"), 3).await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(
        eventually(Duration::from_secs(5), || async {
            sent_texts(&fake, "o_open_user").contains(&format!("{code}_from_api"))
        })
        .await,
        "{}",
        p.host.log()
    );
    assert_eq!(fake.open_query_auth_calls(&code), 1);
    assert!(
        fake.apps_called(api_paths::CUSTOM_SEND)
            .iter()
            .all(|a| a == TEST_OA)
    );

    // The code arriving only in the message: exchanged from there.
    let code2 = fake.open_authorize(TEST_OA_2);
    let (status, body) = p
        .say(TEST_OA_2, &format!("QUERY_AUTH_CODE:{code2}"), 4)
        .await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(
        eventually(Duration::from_secs(5), || async {
            sent_texts(&fake, "o_open_user").contains(&format!("{code2}_from_api"))
        })
        .await,
        "{}",
        p.host.log()
    );
    assert_eq!(fake.open_query_auth_calls(&code2), 1);

    // Any other message of a test account goes to the plugins.
    let (_, reply) = p.say(TEST_OA, "reply:text", 5).await;
    assert!(reply.contains("text reply"), "{reply}");
}

#[tokio::test]
async fn open_recover_restores_the_authorizers_of_a_wiped_store() {
    let fake = FakeWechat::start().await;
    fake.open_add_account(SHOP, "gh_shop00000001", "Shop", &[1]);
    let mut p = Platform::start(&fake, &[]).await;
    let mut msg = 0;
    p.notice(&OpenWechat::ticket(&fake.open_issue_ticket()))
        .await;
    let code = fake.open_authorize(SHOP);
    p.get(&format!("/open/authorized?auth_code={code}")).await;
    p.says(SHOP, "account", "account", &mut msg).await;

    // The store is lost.
    p.host.kill();
    let data = p.host.dir.path().join("data");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n != "cache") {
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }
    p.host.restart().await;
    let (status, _) = p.say(SHOP, "account", 100).await;
    assert_eq!(status, 404, "nothing is known of Shop any more");
    // WeChat's next ticket push, then `wxhost open recover`.
    p.notice(&OpenWechat::ticket(&fake.open_issue_ticket()))
        .await;
    let admin_port = p.admin.rsplit(':').next().unwrap().to_owned();
    // Async: the fake WeChat answers on this test's runtime meanwhile.
    let mut cmd = tokio::process::Command::new(binary());
    cmd.arg("--config")
        .arg(p.host.dir.path().join("wxhost.toml"))
        .args(["open", "recover"])
        .env("WXHOST_DATA_DIR", &data)
        .env("WXHOST_API_BASE_URL", fake.base_url())
        .env("WXHOST_LOG", "warn");
    for (k, v) in env(admin_port.parse().unwrap()) {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("restored {SHOP}")), "{stdout}");
    // The running instance serves it within 5 s, with its API calls.
    p.says(SHOP, "api:send", "sent", &mut msg).await;
    let (_, body) = p
        .api(reqwest::Method::GET, "/api/v1/open/authorizers", None)
        .await;
    assert_eq!(
        body["authorizers"][0]["user_name"], "gh_shop00000001",
        "{body}"
    );
}

#[tokio::test]
async fn two_instances_on_redis_fetch_each_authorizer_token_once() {
    let redis = RedisServer::start().await;
    let fake = FakeWechat::start().await;
    fake.open_add_account(SHOP, "gh_shop00000001", "Shop", &[1]);
    fake.open_add_account(CLUB, "gh_club00000001", "Club", &[1]);
    let shared = redis.env("open:");
    let one = Platform::start(&fake, &shared).await;
    let two = Platform::start(&fake, &shared).await;
    // The ticket reaches one instance; both use it.
    one.notice(&OpenWechat::ticket(&fake.open_issue_ticket()))
        .await;
    for app in [SHOP, CLUB] {
        let code = fake.open_authorize(app);
        let (status, _) = one.get(&format!("/open/authorized?auth_code={code}")).await;
        assert_eq!(status, 200, "{}", one.host.log());
        // The other instance delivers the same code's push: no second exchange.
        two.notice(&OpenWechat::authorized(app, &code)).await;
    }
    let mut msg = 0;
    for p in [&one, &two] {
        for app in [SHOP, CLUB] {
            p.says(app, "account", &format!("account {app}"), &mut msg)
                .await;
        }
    }
    // Every token expires; both instances need a new one for each account at once.
    fake.expire_tokens();
    let mut sends = Vec::new();
    for (i, p) in [&one, &two, &one, &two].into_iter().enumerate() {
        for app in [SHOP, CLUB] {
            sends.push(p.say(
                app,
                "api:send",
                1000 + i as u64 * 10 + u64::from(app == CLUB),
            ));
        }
    }
    for (status, reply) in futures::future::join_all(sends).await {
        assert_eq!(
            (status, reply.contains("sent")),
            (200, true),
            "{reply}\n{}\n---\n{}",
            one.host.log(),
            two.host.log()
        );
    }
    assert_eq!(fake.open_authorizer_token_fetches(SHOP), 1);
    assert_eq!(fake.open_authorizer_token_fetches(CLUB), 1);
    assert_eq!(
        fake.calls(paths::COMPONENT_TOKEN),
        1,
        "one platform token for both"
    );
    for code in fake.requests(paths::QUERY_AUTH) {
        let c = code["authorization_code"].as_str().unwrap();
        assert_eq!(fake.open_query_auth_calls(c), 1);
    }
}
