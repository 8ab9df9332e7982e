//! The admin console under attack: concurrent password guessing, large
//! bodies before auth, and an old one-time link after a password is set.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wxhost_tests::console::{Console, PASSWORD};

/// Resident memory of this process (the console runs in it).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

#[tokio::test]
async fn three_hundred_parallel_wrong_passwords_check_only_a_handful() {
    let hash = wxhost::cli::admin::hash_password(PASSWORD).unwrap();
    let console = Console::start_with(
        &[],
        "",
        &[
            ("WXHOST_ADMIN_PASSWORD", ""),
            ("WXHOST_ADMIN_PASSWORD_HASH", hash.as_str()),
        ],
        None,
    )
    .await;
    let (cookie, csrf) = console.login_form().await;
    let before = rss_bytes();
    let started = std::time::Instant::now();
    let mut guesses = Vec::new();
    for i in 0..300 {
        let (http, url) = (console.http.clone(), console.url("/login"));
        let (cookie, csrf) = (cookie.clone(), csrf.clone());
        guesses.push(tokio::spawn(async move {
            http.post(url)
                .header(reqwest::header::COOKIE, cookie)
                .form(&[("csrf", csrf), ("password", format!("wrong-{i}"))])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let (mut checked, mut limited) = (0, 0);
    for g in guesses {
        match g.await.unwrap() {
            401 => checked += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    let grown = rss_bytes().saturating_sub(before);
    // The burst of 5, and one more per 12 s the guessing took (a debug
    // build's argon2 is slow).
    let allowed = 5 + started.elapsed().as_secs() / 12 + 1;
    assert!(
        checked <= allowed,
        "{checked} passwords were checked (at most {allowed})"
    );
    assert_eq!(checked + limited, 300);
    assert!(grown < 200 << 20, "RSS grew {} MB", grown >> 20);
}

#[tokio::test]
async fn a_60_mb_body_to_login_is_refused_before_it_is_read() {
    let console = Console::start(&[]).await;
    let addr = console.admin_url.trim_start_matches("http://").to_owned();
    for path in [
        "/login",
        "/menus/publish",
        "/api/v1/menu",
        "/plugins/upload",
    ] {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000000\r\n\r\npassword=x"
        );
        c.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("{path}: no answer while the body was still owed"))
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]).to_string();
        let status = answer.split(' ').nth(1).unwrap_or("");
        assert!(["413", "303", "401"].contains(&status), "{path}: {answer}");
    }
}

#[tokio::test]
async fn an_old_login_link_dies_once_a_password_is_set() {
    let console = Console::start_with(&[], "", &[("WXHOST_ADMIN_PASSWORD", "")], None).await;
    let token = console.admin.auth.issue_link().await.unwrap().unwrap();
    let dir = console.stop().await;
    let console = Console::start_with(&[], "", &[], Some(dir)).await;
    let res = console
        .http
        .get(console.url(&format!("/login?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the old link no longer logs in");
    // Starting again with a password deletes the pending link outright.
    assert_eq!(console.admin.auth.issue_link().await.unwrap(), None);
    assert!(
        console
            .stores
            .sessions
            .export()
            .await
            .unwrap()
            .iter()
            .all(|r| r.realm != "admin-login-link"),
        "no pending link is left in the store"
    );
}

#[tokio::test]
async fn only_the_last_link_issued_logs_in_and_a_wrong_token_does_not_spend_it() {
    let console = Console::start_with(&[], "", &[("WXHOST_ADMIN_PASSWORD", "")], None).await;
    let old = console.admin.auth.issue_link().await.unwrap().unwrap();
    let new = console.admin.auth.issue_link().await.unwrap().unwrap();
    let login = |token: String| {
        let (http, url) = (
            console.http.clone(),
            console.url(&format!("/login?token={token}")),
        );
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(login(old).await, 401);
    assert_eq!(login("made-up".into()).await, 401);
    assert_eq!(login(new.clone()).await, 303);
    assert_eq!(login(new).await, 401, "single use");
}

#[tokio::test]
async fn uploading_a_page_plugin_under_a_new_id_says_its_pages_are_not_served() {
    let console = Console::start(&[]).await;
    let member = std::fs::read(wxhost_tests::service::wasm("member")).unwrap();
    let res = console
        .api(reqwest::Method::POST, "/api/v1/plugins?id=member2")
        .body(member)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    let pages = body["plugin"]["pages"].as_str().unwrap_or_default();
    assert!(
        pages.contains("not served") && pages.contains("[plugin.member2.web] login"),
        "{body}"
    );
}
