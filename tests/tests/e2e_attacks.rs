//! The public listener under attack, against the real binary: anonymous
//! login floods and junk OAuth callbacks, planted and misspelt cookies,
//! pages of unconfigured plugins, outgoing HTTP to internal addresses,
//! clients that stop reading or trickle their requests.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use wxhost::protocol;
use wxhost::store::Stores;
use wxhost_tests::browser::Browser;
use wxhost_tests::fake_wechat::{FakeWechat, paths};
use wxhost_tests::service::{TOKEN, Wxhost};

const FAULT_WEB_PUBLIC: &str =
    "[plugin.fault-web]\ntimeout_ms = 2000\n[plugin.fault-web.web]\nlogin = \"none\"\n";

fn state_of(location: &str) -> String {
    let q = location.split_once('?').map_or("", |(_, q)| q);
    let q = q.split('#').next().unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state")
}

async fn store_records(host: &Wxhost) -> usize {
    let stores = Stores::sqlite(&host.dir.path().join("data")).unwrap();
    stores.sessions.export().await.unwrap().len()
}

#[tokio::test]
async fn an_anonymous_login_flood_leaves_the_store_flat() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &["member"], "", &[]).await;
    let before = store_records(&host).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let long_next = format!("/{}", "会".repeat(600));
    for i in 0..300 {
        let next = if i % 2 == 0 {
            long_next.as_str()
        } else {
            "/app/member/"
        };
        let r = http
            .get(format!("{}/oauth/login", host.origin()))
            .query(&[("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
    }
    assert_eq!(
        store_records(&host).await,
        before,
        "a login that was only started writes nothing"
    );
}

#[tokio::test]
async fn junk_callbacks_from_one_client_are_rate_limited_before_reaching_wechat() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &["member"], "", &[]).await;
    let browser = Browser::new();
    let (mut refused, mut tried) = (0, 0);
    for _ in 0..40 {
        let login = browser
            .get(&format!("{}/oauth/login?next=/", host.origin()))
            .await;
        let state = state_of(login.location().unwrap());
        let junk = browser
            .get(&format!(
                "{}/oauth/callback?code=junk-{state}&state={state}",
                host.origin()
            ))
            .await;
        match junk.status {
            429 => refused += 1,
            _ => tried += 1,
        }
    }
    assert!(refused >= 15, "{refused} refused, {tried} tried");
    assert!(
        fake.calls(paths::SNS_ACCESS_TOKEN) <= 25,
        "{} code exchanges",
        fake.calls(paths::SNS_ACCESS_TOKEN)
    );
}

/// Logs a fresh browser in on `/app/member/`; its session cookie value.
async fn session_of(host: &Wxhost) -> String {
    let b = Browser::new();
    let pages = b
        .follow(&host.origin(), &format!("{}/app/member/", host.origin()))
        .await;
    assert_eq!(pages.last().unwrap().status, 200, "{pages:#?}");
    b.cookie("wxhost_session").unwrap()
}

#[tokio::test]
async fn a_planted_second_session_cookie_in_any_spelling_is_no_session() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &["member"], "", &[]).await;
    let victim = session_of(&host).await;
    let attacker = session_of(&host).await;
    let page = format!("{}/app/member/", host.origin());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |cookie: String| {
        let (http, page) = (http.clone(), page.clone());
        async move {
            http.get(page)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(format!("wxhost_session={victim}")).await, 200);
    for planted in [
        format!("wxhost%5Fsession={attacker}"),
        format!("WXHOST_SESSION={attacker}"),
        format!("wxhost_session={attacker}"),
    ] {
        for cookie in [
            format!("wxhost_session={victim}; {planted}"),
            format!("{planted}; wxhost_session={victim}"),
        ] {
            assert_eq!(get(cookie.clone()).await, 302, "{cookie}: not logged in");
        }
    }
    // Alone, an encoded copy is not the session either.
    assert_eq!(get(format!("wxhost%5Fsession={attacker}")).await, 302);
}

#[tokio::test]
async fn plugin_pages_never_see_host_cookies_however_spelt_and_come_sandboxed() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_against(&fake, &["fault-web"], FAULT_WEB_PUBLIC, &[]).await;
    let page = Browser::new()
        .get_with(
            &format!("{}/app/fault-web/headers", host.origin()),
            &[(
                "cookie",
                "theirs=1; wxhost_admin=a; wxhost%5Fsession=b; WXHOST_other=c; __Host-wxhost_session=d; =e",
            )],
        )
        .await;
    assert_eq!(page.status, 200, "{page:?}");
    let cookie_line = page
        .body
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("cookie:"))
        .unwrap_or("")
        .to_owned();
    assert_eq!(cookie_line, "cookie: theirs=1", "{}", page.body);
    let csp = page
        .headers
        .get_all("content-security-policy")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(csp.iter().any(|c| c.starts_with("sandbox")), "{csp:?}");
    // Its own Set-Cookie passes; the one named like the session does not.
    let set = Browser::new()
        .get(&format!("{}/app/fault-web/set-cookie", host.origin()))
        .await;
    assert!(set.set_cookie("theme").is_some(), "{set:?}");
    assert!(set.set_cookie("wxhost_session").is_none(), "{set:?}");
}

#[tokio::test]
async fn a_page_plugin_without_web_settings_is_not_served_until_configured() {
    let fake = FakeWechat::start().await;
    let member = wxhost_tests::service::wasm("member");
    let files = vec![
        ("member".to_owned(), member.clone()),
        ("member2".to_owned(), member),
    ];
    let host = Wxhost::start_files_against(&fake, &files, "", &[]).await;
    let b = Browser::new();
    let refused = b.get(&format!("{}/app/member2/", host.origin())).await;
    assert_eq!(refused.status, 404, "{refused:?}");
    assert!(
        refused.headers.get("content-security-policy").is_none(),
        "the host answered, not the plugin: {refused:?}"
    );
    assert!(
        host.log().contains("[plugin.member2.web] login"),
        "said at load:\n{}",
        host.log()
    );
    // The configured one still asks for a login.
    let member = b.get(&format!("{}/app/member/", host.origin())).await;
    assert_eq!(member.status, 302);
    drop(host);

    let public = Wxhost::start_files_against(
        &fake,
        &files,
        "[plugin.member2.web]\nlogin = \"none\"\n",
        &[],
    )
    .await;
    let page = Browser::new()
        .get(&format!("{}/app/member2/", public.origin()))
        .await;
    // The plugin itself answered (its pages go out with the sandbox), with
    // no login asked.
    assert_ne!(page.status, 302, "{page:?}");
    assert!(
        page.headers.get("content-security-policy").is_some(),
        "{page:?}"
    );
}

#[tokio::test]
async fn outgoing_http_needs_a_list_and_never_reaches_internal_addresses_by_wildcard() {
    let fake = FakeWechat::start().await;
    let target = format!("http://{}/cgi-bin/unknown", fake.addr());
    let fetch =
        |host: &Wxhost, url: &str| format!("{}/app/fault-web/fetch?url={url}", host.origin());
    for hosts in ["", "\"*\""] {
        let config = format!(
            "[plugin.fault-web]\ntimeout_ms = 2000\ncapabilities = [\"http-outgoing\"]\nhttp_hosts = [{hosts}]\n[plugin.fault-web.web]\nlogin = \"none\"\n"
        );
        let host = Wxhost::start_against(&fake, &["fault-web"], &config, &[]).await;
        let denied = Browser::new().get(&fetch(&host, &target)).await;
        assert!(
            denied.body.contains("HttpRequestDenied"),
            "http_hosts = [{hosts}]: {}\n{}",
            denied.body,
            host.log()
        );
    }
    assert_eq!(fake.calls("/cgi-bin/unknown"), 0);
}

/// A connection from `source` (a loopback address of its own) to `to`.
async fn connect_from(source: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    // A small window, so that a client that does not read soon blocks the
    // server's writes.
    socket.set_recv_buffer_size(4096)?;
    socket.bind(format!("{source}:0").parse().unwrap())?;
    socket.connect(to).await
}

#[tokio::test]
async fn slow_clients_do_not_hold_the_listener() {
    let host = Wxhost::start(
        &[],
        "[server]\nwrite_timeout_ms = 1000\nheader_read_timeout_ms = 10000\n",
        &[],
    )
    .await;
    let addr: SocketAddr = format!("127.0.0.1:{}", host.port).parse().unwrap();

    // A client that pipelines thousands of requests and never reads (each
    // answer is a page of half a kilobyte: no login without an AppSecret).
    let mut pipeliner = connect_from("127.0.0.2", addr).await.unwrap();
    let requests = "GET /oauth/login HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20_000);
    let (mut read_half, mut write_half) = pipeliner.split();
    let _ = tokio::time::timeout(
        Duration::from_secs(3),
        write_half.write_all(requests.as_bytes()),
    )
    .await;

    // 600 connections from a few addresses, trickling their heads.
    let mut trickling = Vec::new();
    for i in 0..600 {
        let source = format!("127.0.0.{}", 10 + i % 3);
        if let Ok(mut c) = connect_from(&source, addr).await {
            let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nX-").await;
            trickling.push(c);
        }
    }

    // WeChat's signed verification still gets through at once.
    let ts = wxhost::unix_now().to_string();
    let sig = protocol::signature(&[TOKEN, &ts, "777"]);
    let url = format!(
        "{}?signature={sig}&timestamp={ts}&nonce=777&echostr=still-here",
        host.url
    );
    let r = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .unwrap_or_else(|e| panic!("verification did not get through: {e}\n{}", host.log()));
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );
    assert_eq!(r.text().await.unwrap(), "still-here");

    // The pipeliner was cut off (reset) once its answers had been stuck for
    // the write timeout: reading later ends long before every answer.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0usize;
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match read_half.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the non-reading client still holds its slot");
    let all = 20_000 * "HTTP/1.1 503 Service Unavailable\r\n".len();
    assert!(got < all, "{got} bytes: every response was written");
    drop(trickling);
}

#[tokio::test]
async fn a_flood_of_slow_pages_leaves_pushes_their_instances() {
    use wxhost::protocol::{Mode, Push};
    // Eight instances; every page spins until its 3 s limit.
    let config = "[plugins]\nmax_instances = 8\n[plugin.fault-web]\ntimeout_ms = 3000\n[plugin.fault-web.web]\nlogin = \"none\"\n";
    let host = Wxhost::start(
        &["echo", "fault-web"],
        config,
        &[
            ("WXHOST_MAX_CONNECTIONS_PER_CLIENT", "0"),
            ("WXHOST_PAGE_REQUESTS_PER_CLIENT_PER_SEC", "0"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let pages: Vec<_> = (0..40)
        .map(|_| {
            let (http, url) = (
                http.clone(),
                format!("{}/app/fault-web/loop", host.origin()),
            );
            tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // WeChat's pushes meanwhile get their replies, not a budget cut.
    for i in 0..4u64 {
        let reply = host
            .push(&Push::Text(format!("still here {i}")), Mode::Safe, 500 + i)
            .await;
        assert!(
            reply.contains(&format!("still here {i}")),
            "push {i} got {reply}\n{}",
            host.log()
        );
    }
    let mut busy = 0;
    for p in pages {
        if matches!(p.await.unwrap(), Ok(503)) {
            busy += 1;
        }
    }
    assert!(
        busy > 0,
        "pages past their share are told the server is busy"
    );
}

#[tokio::test]
async fn with_every_slot_taken_the_reserved_ones_serve_the_callback_only() {
    let host = Wxhost::start(
        &[],
        "[server]\nmax_connections = 20\nreserved_connections = 4\nheader_read_timeout_ms = 30000\n",
        &[],
    )
    .await;
    let addr: SocketAddr = format!("127.0.0.1:{}", host.port).parse().unwrap();
    // Sixteen stalled heads take every ordinary slot.
    let mut stalled = Vec::new();
    for i in 0..16 {
        let mut c = connect_from(&format!("127.0.0.{}", 20 + i % 4), addr)
            .await
            .unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nX-").await.unwrap();
        stalled.push(c);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let health = http
        .get(format!("{}/healthz", host.origin()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        health.status(),
        503,
        "a reserved slot serves no health check"
    );
    let ts = wxhost::unix_now().to_string();
    let sig = protocol::signature(&[TOKEN, &ts, "778"]);
    let verified = http
        .get(format!(
            "{}?signature={sig}&timestamp={ts}&nonce=778&echostr=through",
            host.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(verified.text().await.unwrap(), "through");
    drop(stalled);
}
