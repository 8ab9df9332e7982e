//! The web side end to end, against the real binary and the fake WeChat:
//! the OAuth dance, its CSRF and open-redirect defences, WeChat's refusals
//! as readable pages, sessions, plugin pages and their sandbox, the JS-SDK.

use std::time::Duration;

use wxhost::protocol::{self, Mode, Push, Reply};
use wxhost::store::Stores;
use wxhost_tests::browser::{Browser, Page};
use wxhost_tests::fake_wechat::{APP_ID, FakeWechat, OAUTH_OPENID, OAuthUser, paths};
use wxhost_tests::service::Wxhost;

const FAULT_WEB: &str =
    "[plugin.fault-web]\ntimeout_ms = 500\n[plugin.fault-web.web]\nlogin = \"none\"\n";

fn query_of(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let q = q.split('#').next().unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

/// Logs `browser` in by opening `page` (which requires a login) and
/// following every redirect; returns the final page.
async fn log_in(host: &Wxhost, browser: &Browser, page: &str) -> Page {
    let pages = browser
        .follow(&host.origin(), &format!("{}{page}", host.origin()))
        .await;
    let last = pages.last().unwrap().clone();
    assert_eq!(last.status, 200, "{pages:#?}\n{}", host.log());
    assert!(browser.cookie("wxhost_session").is_some(), "{pages:#?}");
    last
}

/// Starts a login for `next` and stops at the callback URL WeChat would
/// send the browser to (not opened yet).
async fn callback_url(host: &Wxhost, browser: &Browser, next: &str) -> String {
    let login = browser
        .get(&format!(
            "{}/oauth/login?next={}",
            host.origin(),
            urlencode(next)
        ))
        .await;
    assert_eq!(login.status, 302, "{login:?}");
    let at_wechat = browser.get(login.location().unwrap()).await;
    assert_eq!(at_wechat.status, 302, "{at_wechat:?}");
    at_wechat.location().unwrap().to_owned()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn text_of(xml: &str) -> String {
    match protocol::parse_reply(xml).unwrap().reply {
        Reply::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

#[tokio::test]
async fn a_visitor_logs_in_through_wechat_oauth_and_the_page_shows_their_openid() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &["member"], "", &[]).await;
    let origin = host.origin();
    let browser = Browser::new();

    // The page requires a base login: to /oauth/login, back to the page.
    let page = browser.get(&format!("{origin}/app/member/")).await;
    assert_eq!(page.status, 302);
    assert_eq!(
        page.location(),
        Some("/oauth/login?next=%2Fapp%2Fmember%2F&scope=base")
    );

    // The authorize URL: WeChat's parameters, in WeChat's order.
    let login = browser
        .get(&format!("{origin}{}", page.location().unwrap()))
        .await;
    assert_eq!(login.status, 302);
    let authorize = login.location().unwrap().to_owned();
    let prefix = format!("{}{}?", fake.base_url(), paths::OAUTH_AUTHORIZE);
    assert!(authorize.starts_with(&prefix), "{authorize}");
    assert!(authorize.ends_with("#wechat_redirect"), "{authorize}");
    let params = query_of(&authorize);
    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["appid", "redirect_uri", "response_type", "scope", "state"]
    );
    assert_eq!(params[0].1, APP_ID);
    assert_eq!(params[1].1, format!("{origin}/oauth/callback"));
    assert!(
        authorize.contains(&format!(
            "redirect_uri={}&",
            urlencode(&format!("{origin}/oauth/callback"))
        )),
        "redirect_uri is URL-encoded: {authorize}"
    );
    assert_eq!(params[2].1, "code");
    assert_eq!(params[3].1, "snsapi_base");
    let state = &params[4].1;
    assert!(
        state.len() >= 16 && state.chars().all(|c| c.is_ascii_alphanumeric()),
        "{state}"
    );
    let binding = login
        .set_cookie(&format!("wxhost_login_{state}"))
        .expect("the login binds this browser");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/oauth"] {
        assert!(binding.contains(attr), "{attr}: {binding}");
    }

    // WeChat's authorize page sends the browser back with a code.
    let at_wechat = browser.get(&authorize).await;
    let callback = at_wechat.location().unwrap().to_owned();
    assert!(
        callback.starts_with(&format!("{origin}/oauth/callback?code=")),
        "{callback}"
    );
    let done = browser.get(&callback).await;
    assert_eq!(done.status, 302, "{}\n{}", done.body, host.log());
    assert_eq!(done.location(), Some("/app/member/"));
    let session = done.set_cookie("wxhost_session").expect("a session starts");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(session.contains(attr), "{attr}: {session}");
    }
    assert!(
        !session.contains("Secure"),
        "an http origin gets no Secure: {session}"
    );
    assert_eq!(fake.calls(paths::SNS_ACCESS_TOKEN), 1);
    assert_eq!(
        fake.calls(paths::SNS_USERINFO),
        0,
        "no profile for snsapi_base"
    );

    // Logged in: the page shows the openid and the kv balance.
    let page = browser.get(&format!("{origin}/app/member/")).await;
    assert_eq!(page.status, 200, "{}", host.log());
    assert!(
        page.body
            .contains(&format!("<code id=\"openid\">{OAUTH_OPENID}</code>")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<strong id=\"balance\">0</strong>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("/jssdk/config"),
        "the page uses the JS-SDK endpoint"
    );

    // The chat half writes the kv the page reads.
    let push = |text: &str| Push::Text(text.to_owned());
    let now = wxhost::unix_now();
    let xml = push("checkin").to_xml("gh_test", OAUTH_OPENID, now, 77);
    let (status, body) = host.post_xml(&xml, Mode::Safe).await;
    assert_eq!(status, 200);
    assert!(text_of(&host.open(&body, Mode::Safe)).contains("+10"));
    let xml = push("points").to_xml("gh_test", OAUTH_OPENID, now, 78);
    let (_, body) = host.post_xml(&xml, Mode::Safe).await;
    let reply = text_of(&host.open(&body, Mode::Safe));
    assert!(
        reply.contains("10 points") && reply.contains("/app/member/"),
        "{reply}"
    );
    let page = browser.get(&format!("{origin}/app/member/")).await;
    assert!(
        page.body.contains("<strong id=\"balance\">10</strong>"),
        "{}",
        page.body
    );

    // The web user is stored.
    let stores = Stores::sqlite(&host.dir.path().join("data")).unwrap();
    let user = stores
        .web_users
        .get(OAUTH_OPENID)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(user.scope, "snsapi_base");
    assert!(!user.snapshot && user.first_seen > 0);
}

#[tokio::test]
async fn a_replayed_expired_or_foreign_state_is_refused_and_starts_no_session() {
    let fake = FakeWechat::start().await;
    let host =
        Wxhost::start_against(&fake, &["member"], "[web]\noauth_state_ttl_secs = 1\n", &[]).await;
    let origin = host.origin();

    // Replayed: the first use logs in, the second is refused (its login
    // cookie is gone, and the state is spent).
    let alice = Browser::new();
    let callback = callback_url(&host, &alice, "/app/member/").await;
    assert_eq!(alice.get(&callback).await.status, 302);
    let alice_session = alice.cookie("wxhost_session").unwrap();
    let replay = alice.get(&callback).await;
    assert!(replay.status == 400 || replay.status == 403, "{replay:?}");
    assert!(replay.set_cookie("wxhost_session").is_none());
    assert_eq!(alice.cookie("wxhost_session").unwrap(), alice_session);

    // Carried to another browser (login CSRF): refused, no session.
    let mallory = Browser::new();
    let callback = callback_url(&host, &mallory, "/app/member/").await;
    let victim = Browser::new();
    victim.get(&format!("{origin}/oauth/login?next=/")).await; // has a login of its own
    let carried = victim.get(&callback).await;
    assert_eq!(carried.status, 403, "{carried:?}");
    assert!(carried.set_cookie("wxhost_session").is_none());
    assert!(victim.cookie("wxhost_session").is_none());
    let fresh = Browser::new();
    let carried = fresh.get(&callback).await;
    assert_eq!(carried.status, 403, "{carried:?}");
    assert!(fresh.cookie("wxhost_session").is_none());
    // Its own browser finishes it, once.
    assert_eq!(mallory.get(&callback).await.status, 302);
    assert!(mallory.cookie("wxhost_session").is_some());

    // Spent: the login cookie replayed by hand with the same callback.
    let eve = Browser::new();
    let callback = callback_url(&host, &eve, "/app/member/").await;
    let state = query_of(&callback)
        .into_iter()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1;
    let name = format!("wxhost_login_{state}");
    let kept = eve.cookie(&name).unwrap();
    assert_eq!(eve.get(&callback).await.status, 302);
    eve.set_cookie(&name, &kept);
    let again = eve.get(&callback).await;
    assert_eq!(again.status, 400, "{again:?}");
    assert!(again.body.contains("expired"), "{}", again.body);

    // Expired: past oauth_state_ttl_secs.
    let slow = Browser::new();
    let callback = callback_url(&host, &slow, "/app/member/").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let late = slow.get(&callback).await;
    assert_eq!(late.status, 400, "{late:?}");
    assert!(slow.cookie("wxhost_session").is_none());
    assert_eq!(
        fake.calls(paths::SNS_ACCESS_TOKEN),
        3,
        "a refused state never reaches WeChat"
    );
}

#[tokio::test]
async fn next_is_always_a_path_on_this_server() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &[], "", &[]).await;
    for (next, lands) in [
        ("/app/member/?tab=1", "/app/member/?tab=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("evil.example", "/"),
    ] {
        let browser = Browser::new();
        let callback = callback_url(&host, &browser, next).await;
        let done = browser.get(&callback).await;
        assert_eq!(done.status, 302, "{next:?}: {done:?}");
        assert_eq!(done.location(), Some(lands), "{next:?}");
    }
    // Logout too.
    let browser = Browser::new();
    let out = browser
        .post(&format!(
            "{}/oauth/logout?next=//evil.example",
            host.origin()
        ))
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), Some("/"));
}

#[tokio::test]
async fn wechats_refusals_are_readable_pages_with_a_4xx() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &[], "", &[]).await;
    let browser = Browser::new();

    // A code used twice: 40163.
    let callback = callback_url(&host, &browser, "/").await;
    let code = query_of(&callback)
        .into_iter()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1;
    assert_eq!(browser.get(&callback).await.status, 302);
    let again = callback_url(&host, &browser, "/").await;
    let state = query_of(&again)
        .into_iter()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1;
    let reused = browser
        .get(&format!(
            "{}/oauth/callback?code={code}&state={state}",
            host.origin()
        ))
        .await;
    assert_eq!(reused.status, 400, "{reused:?}");
    assert!(
        reused.body.contains("40163") && reused.body.contains("<html"),
        "{}",
        reused.body
    );
    assert!(reused.set_cookie("wxhost_session").is_none());

    // An invalid code: 40029.
    let fresh = Browser::new();
    let callback = callback_url(&host, &fresh, "/").await;
    let state = query_of(&callback)
        .into_iter()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1;
    let invalid = fresh
        .get(&format!(
            "{}/oauth/callback?code=bogus&state={state}",
            host.origin()
        ))
        .await;
    assert_eq!(invalid.status, 400, "{invalid:?}");
    assert!(invalid.body.contains("40029"), "{}", invalid.body);
    assert!(fresh.cookie("wxhost_session").is_none());

    // An expired code: 42003.
    let slow = Browser::new();
    let callback = callback_url(&host, &slow, "/").await;
    fake.expire_codes();
    let expired = slow.get(&callback).await;
    assert_eq!(expired.status, 400, "{expired:?}");
    assert!(expired.body.contains("42003"), "{}", expired.body);

    // The user refused: no code.
    fake.refuse_authorize(true);
    let shy = Browser::new();
    let callback = callback_url(&host, &shy, "/").await;
    assert!(!callback.contains("code="), "{callback}");
    let refused = shy.get(&callback).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(
        refused.body.contains("/oauth/login?next="),
        "offers to try again: {}",
        refused.body
    );
    assert!(shy.cookie("wxhost_session").is_none());
    assert!(!host.log().contains("panicked"));
}

#[tokio::test]
async fn a_tampered_or_logged_out_cookie_is_a_logged_out_visitor() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &["member"], "", &[]).await;
    let origin = host.origin();
    let browser = Browser::new();
    log_in(&host, &browser, "/app/member/").await;
    let good = browser.cookie("wxhost_session").unwrap();

    let mut tampered = good.clone().into_bytes();
    let i = tampered.len() - 3;
    tampered[i] = if tampered[i] == b'0' { b'1' } else { b'0' };
    browser.set_cookie("wxhost_session", std::str::from_utf8(&tampered).unwrap());
    let page = browser.get(&format!("{origin}/app/member/")).await;
    assert_eq!(page.status, 302, "a tampered cookie is logged out");
    assert!(page.location().unwrap().starts_with("/oauth/login"));

    browser.set_cookie("wxhost_session", "not-even-signed");
    assert_eq!(
        browser.get(&format!("{origin}/app/member/")).await.status,
        302
    );

    browser.set_cookie("wxhost_session", &good);
    assert_eq!(
        browser.get(&format!("{origin}/app/member/")).await.status,
        200
    );
    let out = browser.post(&format!("{origin}/oauth/logout")).await;
    assert_eq!(out.status, 303);
    assert!(
        out.set_cookie("wxhost_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie, replayed after logout: logged out.
    browser.set_cookie("wxhost_session", &good);
    assert_eq!(
        browser.get(&format!("{origin}/app/member/")).await.status,
        302
    );
}

#[tokio::test]
async fn a_session_survives_a_restart_with_the_generated_secret() {
    let fake = FakeWechat::start().await;
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let browser = Browser::new();
    let port;
    {
        let host =
            Wxhost::start_against(&fake, &["member"], "", &[("WXHOST_DATA_DIR", &data_dir)]).await;
        log_in(&host, &browser, "/app/member/").await;
        port = host.port;
    }
    let secret = data.path().join("web-session.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the secret is private: {mode:o}");
    }
    let host =
        Wxhost::start_against(&fake, &["member"], "", &[("WXHOST_DATA_DIR", &data_dir)]).await;
    assert_ne!(host.port, port);
    let page = browser.get(&format!("{}/app/member/", host.origin())).await;
    assert_eq!(page.status, 200, "{page:?}");
    let key = std::fs::read_to_string(&secret).unwrap();
    assert!(
        !host.log().contains(key.trim()),
        "the secret is never logged"
    );
}

#[tokio::test]
async fn a_spoofed_identity_header_never_reaches_the_plugin() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &["member", "fault-web"], FAULT_WEB, &[]).await;
    let origin = host.origin();
    let spoof = [
        ("x-wxhost-openid", "o_admin"),
        ("X-Wxhost-Scope", "userinfo"),
        ("x-wxhost-snapshot", "0"),
        ("x-wxhost-anything", "1"),
    ];
    // Logged out: no identity at all.
    let anon = Browser::new();
    let seen = anon
        .get_with(&format!("{origin}/app/fault-web/headers"), &spoof)
        .await;
    assert_eq!(seen.status, 200);
    assert!(!seen.body.contains("x-wxhost-"), "{}", seen.body);

    // Logged in: only the host's.
    let browser = Browser::new();
    log_in(&host, &browser, "/app/member/").await;
    browser.set_cookie("theme", "dark");
    let seen = browser
        .get_with(&format!("{origin}/app/fault-web/headers"), &spoof)
        .await;
    assert!(
        seen.body
            .contains(&format!("x-wxhost-openid: {OAUTH_OPENID}\n")),
        "{}",
        seen.body
    );
    assert!(
        seen.body.contains("x-wxhost-scope: base\n"),
        "{}",
        seen.body
    );
    assert!(
        seen.body.contains("x-wxhost-snapshot: 0\n"),
        "{}",
        seen.body
    );
    assert!(
        !seen.body.contains("o_admin") && !seen.body.contains("anything"),
        "{}",
        seen.body
    );
    // Its own cookies pass; wxhost's session id (a secret) does not.
    assert!(seen.body.contains("theme=dark"), "{}", seen.body);
    assert!(!seen.body.contains("wxhost_session"), "{}", seen.body);
    // Nor may it set wxhost's cookies.
    let set = browser
        .get(&format!("{origin}/app/fault-web/set-cookie"))
        .await;
    assert!(set.set_cookie("wxhost_session").is_none(), "{set:?}");
    assert!(set.set_cookie("theme").is_some());
}

#[tokio::test]
async fn a_userinfo_login_keeps_the_profile_and_a_snapshot_user_is_marked() {
    let fake = FakeWechat::start().await;
    let config = FAULT_WEB.replace("login = \"none\"", "login = \"userinfo\"");
    let host = Wxhost::start_against(&fake, &["fault-web"], &config, &[]).await;
    let mut user = OAuthUser::new("o_profile_user");
    user.unionid = Some("u_union_1".into());
    user.nickname = "小明".into();
    fake.set_oauth_user(user);
    let browser = Browser::new();
    let page = log_in(&host, &browser, "/app/fault-web/headers").await;
    assert!(
        page.body.contains("x-wxhost-openid: o_profile_user\n"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("x-wxhost-unionid: u_union_1\n"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("x-wxhost-scope: userinfo\n"),
        "{}",
        page.body
    );
    assert_eq!(fake.calls(paths::SNS_USERINFO), 1);
    let authorize = &fake.requests(paths::OAUTH_AUTHORIZE)[0];
    assert_eq!(authorize["scope"], "snsapi_userinfo");
    let stores = Stores::sqlite(&host.dir.path().join("data")).unwrap();
    let stored = stores
        .web_users
        .get("o_profile_user")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.nickname.as_deref(), Some("小明"));
    assert_eq!(stored.unionid.as_deref(), Some("u_union_1"));
    assert!(stored.avatar_url.is_some());

    // A snapshot-page virtual user: marked, and no userinfo call (it fails).
    let mut ghost = OAuthUser::new("o_snapshot_virtual");
    ghost.snapshot = true;
    fake.set_oauth_user(ghost);
    let visitor = Browser::new();
    let page = log_in(&host, &visitor, "/app/fault-web/headers").await;
    assert!(
        page.body.contains("x-wxhost-snapshot: 1\n"),
        "{}",
        page.body
    );
    assert_eq!(fake.calls(paths::SNS_USERINFO), 1);
    let stored = stores
        .web_users
        .get("o_snapshot_virtual")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.snapshot);
}

#[tokio::test]
async fn a_page_that_traps_or_loops_gets_500_or_504_while_pushes_and_other_pages_go_on() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &["echo", "fault-web"], FAULT_WEB, &[]).await;
    let origin = host.origin();
    let browser = Browser::new();
    let looping = {
        let url = format!("{origin}/app/fault-web/loop");
        tokio::spawn(async move { Browser::new().get(&url).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // While one page spins: a push, another page, a trapping page.
    let reply = host
        .push(&Push::Text("still here".into()), Mode::Safe, 901)
        .await;
    assert_eq!(text_of(&reply), "still here");
    let ok = browser.get(&format!("{origin}/app/fault-web/ok")).await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "ok"));
    let trap = browser.get(&format!("{origin}/app/fault-web/trap")).await;
    assert_eq!(trap.status, 500);
    assert!(
        trap.body.contains("<html"),
        "a page, not a bare 500: {}",
        trap.body
    );
    let hog = browser.get(&format!("{origin}/app/fault-web/alloc")).await;
    assert_eq!(hog.status, 500);
    let big = browser.get(&format!("{origin}/app/fault-web/big")).await;
    assert_eq!(big.status, 500, "a response past web.max_response_bytes");
    let silent = browser
        .get(&format!("{origin}/app/fault-web/no-response"))
        .await;
    assert_eq!(silent.status, 500);
    let looped = looping.await.unwrap();
    assert_eq!(looped.status, 504, "{looped:?}");
    // And after all that, everything still works.
    assert_eq!(
        browser
            .get(&format!("{origin}/app/fault-web/ok"))
            .await
            .status,
        200
    );
    let reply = host
        .push(&Push::Text("after".into()), Mode::Safe, 902)
        .await;
    assert_eq!(text_of(&reply), "after");
    let log = host.log();
    for kind in ["panic", "timeout", "memory_limit", "invalid_reply"] {
        assert!(
            log.contains(&format!("error.kind=\"{kind}\"")),
            "{kind}:\n{log}"
        );
    }
    // Unknown plugins and plugins without pages: 404 pages.
    assert_eq!(
        browser.get(&format!("{origin}/app/nope/")).await.status,
        404
    );
    assert_eq!(
        browser.get(&format!("{origin}/app/echo/")).await.status,
        404
    );
    let bare = browser.get(&format!("{origin}/app/fault-web")).await;
    assert_eq!(
        (bare.status, bare.location()),
        (308, Some("/app/fault-web/"))
    );
}

#[tokio::test]
async fn outgoing_http_from_a_page_is_denied_unless_granted_and_then_only_to_its_hosts() {
    let fake = FakeWechat::start().await;
    let target = format!("http://{}/cgi-bin/unknown", fake.addr());
    let other = FakeWechat::start().await;
    let elsewhere = format!("http://{}/cgi-bin/unknown", other.addr());
    let fetch =
        |host: &Wxhost, url: &str| format!("{}/app/fault-web/fetch?url={url}", host.origin());

    let host = Wxhost::start_against(&fake, &["fault-web"], FAULT_WEB, &[]).await;
    let denied = Browser::new().get(&fetch(&host, &target)).await;
    assert!(denied.body.contains("HttpRequestDenied"), "{}", denied.body);
    assert_eq!(fake.calls("/cgi-bin/unknown"), 0);
    drop(host);

    // Two more accounts on their own host names: `strict` takes the grant
    // away, `wide` lists the other host instead.
    let config = format!(
        "[plugin.fault-web]\ntimeout_ms = 2000\ncapabilities = [\"http-outgoing\"]\nhttp_hosts = [\"{}\"]\n[plugin.fault-web.web]\nlogin = \"none\"\n\
         [account.strict]\napp_id = \"wxstrict00000001\"\ntoken = \"t\"\n[account.strict.web]\npublic_url = \"http://strict.test\"\n\
         [account.strict.plugin.fault-web]\ncapabilities = []\n\
         [account.wide]\napp_id = \"wxwide000000001\"\ntoken = \"t\"\n[account.wide.web]\npublic_url = \"http://wide.test\"\n\
         [account.wide.plugin.fault-web]\nhttp_hosts = [\"{}\"]\n",
        fake.addr(),
        other.addr()
    );
    let host = Wxhost::start_against(&fake, &["fault-web"], &config, &[]).await;
    let fetched = Browser::new().get(&fetch(&host, &target)).await;
    // (The fake answers JSON 41001 there, with HTTP 200.)
    assert!(
        fetched.body.contains("fetched: HTTP 200"),
        "{}\n{}",
        fetched.body,
        host.log()
    );
    assert_eq!(fake.calls("/cgi-bin/unknown"), 1);
    let elsewhere_url = elsewhere.clone();
    let elsewhere = Browser::new().get(&fetch(&host, &elsewhere)).await;
    assert!(
        elsewhere.body.contains("HttpRequestDenied"),
        "{}",
        elsewhere.body
    );
    assert_eq!(other.calls("/cgi-bin/unknown"), 0);

    // Per account: the account's own grants and hosts, not the plugin's.
    let strict = Browser::new()
        .get_with(&fetch(&host, &target), &[("host", "strict.test")])
        .await;
    assert!(strict.body.contains("HttpRequestDenied"), "{}", strict.body);
    assert_eq!(fake.calls("/cgi-bin/unknown"), 1);
    let wide = Browser::new()
        .get_with(&fetch(&host, &elsewhere_url), &[("host", "wide.test")])
        .await;
    assert!(wide.body.contains("fetched: HTTP 200"), "{}", wide.body);
    assert_eq!(other.calls("/cgi-bin/unknown"), 1);
    let wide = Browser::new()
        .get_with(&fetch(&host, &target), &[("host", "wide.test")])
        .await;
    assert!(wide.body.contains("HttpRequestDenied"), "{}", wide.body);
}

#[tokio::test]
async fn jssdk_config_signs_this_servers_pages_and_a_plugin_gets_the_same() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &["member"], "", &[]).await;
    let origin = host.origin();
    let browser = Browser::new();
    let page = format!("{origin}/app/member/?a=1&b=中");
    let r = reqwest::Client::new()
        .get(format!("{origin}/jssdk/config"))
        .query(&[("url", format!("{page}#section"))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c: serde_json::Value = r.json().await.unwrap();
    let ticket = fake.jsapi_ticket().expect("a ticket was fetched");
    let nonce = c["nonceStr"].as_str().unwrap();
    let ts = c["timestamp"].as_u64().unwrap();
    assert_eq!(c["appId"], APP_ID);
    assert!(ts.abs_diff(wxhost::unix_now()) < 60);
    assert_eq!(
        c["signature"].as_str().unwrap(),
        wxhost::api::jssdk::signature(&ticket, nonce, ts, &page),
        "signed over the URL without its fragment"
    );
    for bad in ["https://evil.example/", "not a url", ""] {
        let r = reqwest::Client::new()
            .get(format!("{origin}/jssdk/config"))
            .query(&[("url", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad:?}");
    }
    // The plugin's host function signs its own page the same way.
    log_in(&host, &browser, "/app/member/").await;
    let j = browser
        .get(&format!("{origin}/app/member/jssdk.json"))
        .await;
    assert_eq!(j.status, 200, "{j:?}");
    let c: serde_json::Value = serde_json::from_str(&j.body).unwrap();
    assert_eq!(
        c["signature"].as_str().unwrap(),
        wxhost::api::jssdk::signature(
            &ticket,
            c["nonceStr"].as_str().unwrap(),
            c["timestamp"].as_u64().unwrap(),
            &format!("{origin}/app/member/")
        )
    );
    assert_eq!(fake.calls(paths::GET_TICKET), 1, "one ticket for both");
}

#[tokio::test]
async fn a_hundred_concurrent_jssdk_configs_fetch_one_ticket() {
    let fake = FakeWechat::start().await;
    fake.set_latency(paths::GET_TICKET, Duration::from_millis(200));
    // A hundred connections from one address: past the per-client cap
    // unless it is lifted (as behind a proxy).
    let host = Wxhost::start_against(
        &fake,
        &[],
        "",
        &[("WXHOST_MAX_CONNECTIONS_PER_CLIENT", "0")],
    )
    .await;
    let url = format!("{}/jssdk/config", host.origin());
    let page = format!("{}/app/x/", host.origin());
    let http = reqwest::Client::new();
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let (http, url, page) = (http.clone(), url.clone(), page.clone());
            tokio::spawn(async move {
                http.get(url)
                    .query(&[("url", page)])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap(), 200);
    }
    assert_eq!(fake.calls(paths::GET_TICKET), 1);
    assert_eq!(fake.token_fetches(), 1);
}

#[tokio::test]
async fn simulate_oauth_logs_a_test_openid_in_and_opens_the_page() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &["member"], "", &[]).await;
    let out = tokio::process::Command::new(wxhost_tests::service::binary())
        .args([
            "simulate",
            "--oauth",
            "/app/member/",
            "--openid",
            "o_dev_tester",
            "--url",
        ])
        .arg(host.origin())
        .current_dir(host.dir.path())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Cookie: wxhost_session="), "{stdout}");
    assert!(stdout.contains("HTTP 200"), "{stdout}");
    assert!(
        stdout.contains("<code id=\"openid\">o_dev_tester</code>"),
        "{stdout}"
    );
    // The printed cookie works in any client.
    let cookie = stdout
        .lines()
        .find_map(|l| l.strip_prefix("logged in: Cookie: "))
        .unwrap();
    let browser = Browser::new();
    let (name, value) = cookie.split_once('=').unwrap();
    browser.set_cookie(name, value);
    let page = browser.get(&format!("{}/app/member/", host.origin())).await;
    assert!(page.body.contains("o_dev_tester"), "{}", page.body);
}

/// An account with its own `[account.<name>.web] public_url`: requests on
/// that host log in with its AppID, keep their sessions and web users in its
/// store scope, sign JS-SDK configs for its origin, and serve its plugin
/// set's pages; the default host keeps the default account.
#[tokio::test]
async fn an_accounts_own_host_name_logs_in_with_its_app_and_keeps_its_sessions_apart() {
    const SHOP_APP_ID: &str = "wxshop0000000001";
    const SHOP_SECRET: &str = "shop-secret-0123456789abcdef0123";
    const SHOP: &str = "http://shop.test";
    let fake = FakeWechat::start().await;
    fake.add_app(SHOP_APP_ID, SHOP_SECRET);
    let config = "[account.shop]\napp_id = \"wxshop0000000001\"\ntoken = \"shoptoken\"\n\
                  [account.shop.web]\npublic_url = \"http://shop.test\"\n\
                  [account.club]\napp_id = \"wxclub0000000001\"\ntoken = \"clubtoken\"\n\
                  plugins = [\"echo\"]\n[account.club.web]\npublic_url = \"http://club.test:8443\"\n";
    let host = Wxhost::start_against(
        &fake,
        &["member", "echo"],
        config,
        &[
            ("WXHOST_ACCOUNT_SHOP_APP_SECRET", SHOP_SECRET),
            ("WXHOST_ACCOUNT_CLUB_APP_SECRET", "club-secret"),
        ],
    )
    .await;
    let origin = host.origin();
    let browser = Browser::new();
    let as_shop = [("host", "shop.test")];
    // What the browser would open on shop.test, sent to this server.
    let here = |url: &str| url.replace(SHOP, &origin);

    // The login starts with the shop's AppID and comes back to its host.
    let page = browser
        .get_with(&format!("{origin}/app/member/"), &as_shop)
        .await;
    assert_eq!(page.status, 302, "{}", host.log());
    let login = browser
        .get_with(&format!("{origin}{}", page.location().unwrap()), &as_shop)
        .await;
    let authorize = login.location().unwrap().to_owned();
    let params = query_of(&authorize);
    assert_eq!(params[0].1, SHOP_APP_ID, "{authorize}");
    assert_eq!(params[1].1, format!("{SHOP}/oauth/callback"));
    let callback = browser.get(&authorize).await.location().unwrap().to_owned();
    assert!(callback.starts_with(&format!("{SHOP}/oauth/callback?")));
    let done = browser.get_with(&here(&callback), &as_shop).await;
    assert_eq!(done.status, 302, "{}\n{}", done.body, host.log());
    assert!(browser.cookie("wxhost_session").is_some());

    // The page on the shop's host shows the shop's openid for this person.
    let page = browser
        .get_with(&format!("{origin}/app/member/"), &as_shop)
        .await;
    assert_eq!(page.status, 200, "{}", host.log());
    let shop_openid = format!("{OAUTH_OPENID}-{SHOP_APP_ID}");
    assert!(
        page.body
            .contains(&format!("<code id=\"openid\">{shop_openid}</code>")),
        "{}",
        page.body
    );

    // The same cookie on the default host is nobody: the session lives in
    // the shop's store scope.
    let page = browser.get(&format!("{origin}/app/member/")).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let shop_store = Stores::sqlite(&host.dir.path().join("data"))
        .unwrap()
        .for_account("shop")
        .unwrap();
    assert!(
        shop_store
            .web_users
            .get(&shop_openid)
            .await
            .unwrap()
            .is_some(),
        "the web user is the shop's"
    );

    // JS-SDK: the shop's AppID, for pages on the shop's origin only.
    let shop_page = format!("{SHOP}/app/member/");
    let signed = browser
        .get_with(
            &format!("{origin}/jssdk/config?url={}", urlencode(&shop_page)),
            &as_shop,
        )
        .await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    let json: serde_json::Value = serde_json::from_str(&signed.body).unwrap();
    assert_eq!(json["appId"], SHOP_APP_ID);
    let foreign = browser
        .get_with(
            &format!(
                "{origin}/jssdk/config?url={}",
                urlencode(&format!("{origin}/app/member/"))
            ),
            &as_shop,
        )
        .await;
    assert_eq!(
        foreign.status, 400,
        "another origin's page: {}",
        foreign.body
    );

    // `club` serves only `echo`: no member page on its host (the port is
    // part of the host name).
    let page = browser
        .get_with(
            &format!("{origin}/app/member/"),
            &[("host", "club.test:8443")],
        )
        .await;
    assert_eq!(page.status, 404, "{}", page.body);
}
