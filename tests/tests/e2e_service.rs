//! End to end over real HTTP against the real `wxhost` binary with real
//! plugins: verification, the three modes, every reply type through
//! encryption, retries, the budget, and hostile requests.

use std::time::{Duration, Instant};

use wxhost::protocol::Push;
use wxhost::protocol::{self, Mode, Reply};
use wxhost_tests::service::{TOKEN, Wxhost};

/// The fixture plugin may sleep past the default 1 s plugin limit.
const SLOW_FIXTURE: &str = "[plugin.fixture]\ntimeout_ms = 4000\n";

/// Plaintext pushes are refused by default when a key is set; tests of
/// plaintext mode say so.
const ALLOW_PLAINTEXT: (&str, &str) = ("WXHOST_REQUIRE_ENCRYPTION", "false");

fn reply_of(xml: &str) -> Reply {
    protocol::parse_reply(xml)
        .unwrap_or_else(|e| panic!("not a reply ({e}): {xml}"))
        .reply
}

#[tokio::test]
async fn url_verification_echoes_only_when_signed() {
    let host = Wxhost::start(&["echo"], "", &[]).await;
    let ts = wxhost::unix_now().to_string();
    let sig = protocol::signature(&[TOKEN, &ts, "123"]);
    let (status, body) = host
        .get(&format!(
            "{}?signature={sig}&timestamp={ts}&nonce=123&echostr=hello42",
            host.url
        ))
        .await;
    assert_eq!((status, body.as_str()), (200, "hello42"));
    let (status, body) = host
        .get(&format!(
            "{}?signature={sig}&timestamp={ts}&nonce=124&echostr=hello42",
            host.url
        ))
        .await;
    assert_eq!(status, 403);
    assert!(!body.contains("hello42"));
}

#[tokio::test]
async fn echo_answers_in_all_three_modes() {
    let host = Wxhost::start(&["echo"], "", &[ALLOW_PLAINTEXT]).await;
    for (i, mode) in [Mode::Plaintext, Mode::Compatible, Mode::Safe]
        .into_iter()
        .enumerate()
    {
        let body = host
            .push(&Push::Text(format!("你好 ]]> {i}")), mode, 100 + i as u64)
            .await;
        assert_eq!(
            reply_of(&body),
            Reply::Text(format!("你好 ]]> {i}")),
            "mode {mode:?}"
        );
        let parsed = protocol::parse_reply(&body).unwrap();
        assert_eq!(parsed.to_user, "o_test_user");
        assert_eq!(parsed.from_user, "gh_test");
    }
}

#[tokio::test]
async fn encrypted_replies_are_encrypted_envelopes() {
    let host = Wxhost::start(&["echo"], "", &[]).await;
    let now = wxhost::unix_now();
    let xml = Push::Text("secret words".into()).to_xml("gh_test", "o_u", now, 7);
    let (status, body) = host.post_xml(&xml, Mode::Safe).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<Encrypt>") && body.contains("<MsgSignature>"),
        "{body}"
    );
    assert!(!body.contains("secret words"));
}

#[tokio::test]
async fn every_reply_type_round_trips_through_encryption() {
    let host = Wxhost::start(&["fixture"], "", &[]).await;
    let cases = [
        "text", "image", "voice", "video", "music", "news", "transfer",
    ];
    for (i, case) in cases.iter().enumerate() {
        let body = host
            .push(
                &Push::Text(format!("reply:{case}")),
                Mode::Safe,
                200 + i as u64,
            )
            .await;
        let reply = reply_of(&body);
        let ok = match (*case, &reply) {
            ("text", Reply::Text(t)) => t == "text reply",
            ("image", Reply::Image { media_id }) => media_id == "media-image",
            ("voice", Reply::Voice { media_id }) => media_id == "media-voice",
            (
                "video",
                Reply::Video {
                    media_id, title, ..
                },
            ) => media_id == "media-video" && title.as_deref() == Some("a video"),
            ("music", Reply::Music { thumb_media_id, .. }) => thumb_media_id == "media-thumb",
            ("news", Reply::News(a)) => a.len() == 1 && a[0].title == "an article",
            ("transfer", Reply::TransferCustomerService { .. }) => true,
            _ => false,
        };
        assert!(ok, "{case}: got {reply:?}");
    }
}

#[tokio::test]
async fn a_retry_in_flight_gets_the_same_reply_and_the_plugin_runs_once() {
    let host = Wxhost::start(&["fixture"], SLOW_FIXTURE, &[]).await;
    let now = wxhost::unix_now();
    let xml = Push::Text("sleep:1500".into()).to_xml("gh_test", "o_retry", now, 4242);
    let first = host.spawn_post_xml(&xml, Mode::Safe);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, second) = host.post_xml(&xml, Mode::Safe).await;
    let (status1, first) = first.await.unwrap();
    assert_eq!((status, status1), (200, 200));
    let (first, second) = (
        reply_of(&host.open(&first, Mode::Safe)),
        reply_of(&host.open(&second, Mode::Safe)),
    );
    assert_eq!(first, second);
    assert_eq!(first, Reply::Text("slept 1500 ms, call 1".into()));
    // And after it finished, a third delivery replays the stored reply.
    let (_, third) = host.post_xml(&xml, Mode::Safe).await;
    assert_eq!(reply_of(&host.open(&third, Mode::Safe)), first);
    let log = host.log();
    assert_eq!(log.matches("msg_id=4242").count(), 3, "{log}");
    assert_eq!(log.matches("retry=true").count(), 2, "{log}");
}

#[tokio::test]
async fn a_slow_plugin_gets_success_within_the_budget() {
    let host = Wxhost::start(
        &["fixture"],
        "[plugin.fixture]\ntimeout_ms = 4000\n",
        &[("WXHOST_BUDGET_MS", "700")],
    )
    .await;
    let started = Instant::now();
    let body = host
        .push(&Push::Text("sleep:3000".into()), Mode::Safe, 9001)
        .await;
    assert_eq!(body, "success");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "answered after {:?}",
        started.elapsed()
    );
    // The server keeps answering.
    let body = host
        .push(&Push::Text("reply:text".into()), Mode::Safe, 9002)
        .await;
    assert_eq!(reply_of(&body), Reply::Text("text reply".into()));
}

#[tokio::test]
async fn hostile_requests_get_4xx_and_the_server_keeps_answering() {
    // Plaintext allowed, so plaintext bodies reach the parser.
    let host = Wxhost::start(&["echo"], "", &[ALLOW_PLAINTEXT]).await;
    let now = wxhost::unix_now();
    let good_xml = Push::Text("hi".into()).to_xml("gh_test", "o_u", now, 1);
    let crypt = &host.crypt;
    let signed = |xml: &str, ts: u64| {
        wxhost::protocol::signed_request(&host.url, TOKEN, Some(crypt), Mode::Safe, xml, ts)
    };

    // Tampered ciphertext: flip a character inside <Encrypt>.
    let (url, body) = signed(&good_xml, now);
    let start = body.find("<Encrypt><![CDATA[").unwrap() + 20;
    let mut tampered = body.clone().into_bytes();
    tampered[start] = if tampered[start] == b'A' { b'B' } else { b'A' };
    let (status, _) = host.post_raw(&url, tampered).await;
    assert!((400..500).contains(&status), "tampered: {status}");

    // Encrypted for another AppID, correctly signed.
    let other = protocol::MsgCrypt::new(
        protocol::AesKey::from_encoding_aes_key(wxhost_tests::service::AES_KEY).unwrap(),
        "wx_other_app",
    );
    let (url, body) = wxhost::protocol::signed_request(
        &host.url,
        TOKEN,
        Some(&other),
        Mode::Safe,
        &good_xml,
        now,
    );
    assert_eq!(host.post_raw(&url, body).await.0, 403, "wrong AppID");

    // Stale timestamp (an hour ago).
    let (url, body) = signed(&good_xml, now - 3600);
    assert_eq!(host.post_raw(&url, body).await.0, 403, "stale timestamp");

    // Huge body.
    let (url, _) = signed(&good_xml, now);
    assert_eq!(
        huge_post_status(host.port, &url, 4 << 20).await,
        413,
        "huge body"
    );

    // DOCTYPE / entity expansion, plaintext and encrypted.
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><ToUserName>gh</ToUserName><FromUserName>&lol2;</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>"#;
    let (url, body) = signed(bomb, now);
    assert!(
        (400..500).contains(&host.post_raw(&url, body).await.0),
        "entities (safe)"
    );
    let (status, _) = host.post_xml(bomb, Mode::Plaintext).await;
    assert!((400..500).contains(&status), "entities (plaintext)");

    // Malformed XML, and an empty body.
    let (url, body) = signed("<xml><ToUserName>gh</ToUser", now);
    assert!(
        (400..500).contains(&host.post_raw(&url, body).await.0),
        "malformed"
    );
    let (url, _) = signed(&good_xml, now);
    assert!(
        (400..500).contains(&host.post_raw(&url, Vec::new()).await.0),
        "empty body"
    );

    // No signature at all, wrong method and wrong path.
    assert!(
        (400..500).contains(&host.post_raw(&host.url, good_xml.clone()).await.0),
        "unsigned"
    );
    assert_eq!(
        host.get(&format!("http://127.0.0.1:{}/elsewhere", host.port))
            .await
            .0,
        404
    );
    let r = reqwest::Client::new().put(&host.url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);

    // Still answering.
    let body = host
        .push(&Push::Text("still here".into()), Mode::Safe, 77)
        .await;
    assert_eq!(reply_of(&body), Reply::Text("still here".into()));
    assert!(!host.log().contains("panicked"), "{}", host.log());
}

#[tokio::test]
async fn plaintext_pushes_are_refused_by_default_and_simulate_says_what_to_set() {
    let host = Wxhost::start(&["echo"], "", &[]).await;
    let now = wxhost::unix_now();
    let xml = Push::Text("hi".into()).to_xml("gh_test", "o_u", now, 5);
    assert_eq!(
        host.post_xml(&xml, Mode::Plaintext).await,
        (403, "encryption_required".to_owned())
    );
    let body = host.push(&Push::Text("hi".into()), Mode::Safe, 6).await;
    assert_eq!(reply_of(&body), Reply::Text("hi".into()));

    let out = tokio::process::Command::new(wxhost_tests::service::binary())
        .args([
            "simulate",
            "--url",
            &host.url,
            "--mode",
            "plaintext",
            "--text",
            "hi",
        ])
        .current_dir(host.dir.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("refuses plaintext") && stderr.contains("WXHOST_REQUIRE_ENCRYPTION=false"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_exact_replay_after_its_reply_is_forgotten_never_runs_plugins_again() {
    // Replies are kept for 20 s; the captured push stays acceptable for the
    // 300 s timestamp window.
    let host = Wxhost::start(&["fixture"], "[server]\ndedup_ttl_secs = 20\n", &[]).await;
    let now = wxhost::unix_now();
    let xml = Push::Text("sleep:0".into()).to_xml("gh_test", "o_replay", now, 6061);
    let (url, body) =
        protocol::signed_request(&host.url, TOKEN, Some(&host.crypt), Mode::Safe, &xml, now);
    let (status, first) = host.post_raw(&url, body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        reply_of(&host.open(&first, Mode::Safe)),
        Reply::Text("slept 0 ms, call 1".into())
    );
    tokio::time::sleep(Duration::from_secs(21)).await;
    let (status, replayed) = host.post_raw(&url, body).await;
    assert_eq!(
        (status, replayed.as_str()),
        (200, "success"),
        "{}",
        host.log()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = host.log();
    assert!(log.contains("outcome=\"replay\""), "{log}");
    assert_eq!(log.matches("plugin=\"fixture\"").count(), 1, "{log}");
}

#[tokio::test]
async fn logs_carry_one_line_per_push_and_no_secrets() {
    let host = Wxhost::start(
        &["echo"],
        "",
        &[("WXHOST_APP_SECRET", "super-secret-app-secret")],
    )
    .await;
    host.push(&Push::Text("log me".into()), Mode::Safe, 31337)
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = host.log();
    let line = log
        .lines()
        .find(|l| l.contains("msg_id=31337"))
        .unwrap_or_else(|| panic!("no push line:\n{log}"));
    for field in [
        "request_id=",
        "kind=text",
        "plugin=\"echo\"",
        "outcome=\"reply\"",
        "latency_ms=",
    ] {
        assert!(line.contains(field), "missing {field} in {line}");
    }
    assert!(
        !log.contains("super-secret-app-secret") && !log.contains(wxhost_tests::service::AES_KEY)
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_pushes() {
    let mut host = Wxhost::start(&["fixture"], SLOW_FIXTURE, &[]).await;
    let now = wxhost::unix_now();
    let xml = Push::Text("sleep:1000".into()).to_xml("gh_test", "o_shutdown", now, 5150);
    let in_flight = host.spawn_post_xml(&xml, Mode::Safe);
    tokio::time::sleep(Duration::from_millis(300)).await;
    host.terminate();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        reply_of(&host.open(&body, Mode::Safe)),
        Reply::Text("slept 1000 ms, call 1".into())
    );
    assert!(
        host.wait_exit(Duration::from_secs(15)).await.success(),
        "{}",
        host.log()
    );
}

/// POSTs a `len`-byte body while reading the answer concurrently (the server
/// may answer before the body is sent), and returns the status.
async fn huge_post_status(port: u16, url: &str, len: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let path = &url[url.find("/wechat").unwrap()..];
    let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (mut read, mut write) = s.into_split();
    let head = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len}\r\n\r\n");
    let writer = tokio::spawn(async move {
        let _ = write.write_all(head.as_bytes()).await;
        let _ = write.write_all(&vec![b'x'; len]).await;
        write
    });
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(20), read.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    writer.abort();
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn dispatch_runs_plugins_by_priority_and_survives_broken_ones() {
    let config = "[plugin.keyword.config]\nrules = \"hello=Hi there!\"\n[plugin.fault_loop]\ntimeout_ms = 200\n";
    let host = Wxhost::start(
        &[
            "keyword",
            "echo",
            "fault_panic",
            "fault_loop",
            "fault_alloc",
            "fault_invalid_reply",
        ],
        config,
        &[],
    )
    .await;
    // The fault plugins (priority 100) run first and fail; keyword (10) answers
    // what it knows, and passes the rest to echo (0).
    let body = host
        .push(&Push::Text("hello".into()), Mode::Safe, 501)
        .await;
    assert_eq!(reply_of(&body), Reply::Text("Hi there!".into()));
    let body = host
        .push(&Push::Text("something else".into()), Mode::Safe, 502)
        .await;
    assert_eq!(reply_of(&body), Reply::Text("something else".into()));
    // No loaded plugin handles a follow: nobody is called, WeChat gets `success`.
    assert_eq!(
        host.push(&Push::Subscribe { scene: None }, Mode::Safe, 0)
            .await,
        "success"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = host.log();
    for kind in ["panic", "timeout", "memory_limit", "invalid_reply"] {
        assert!(
            log.contains(&format!("error.kind=\"{kind}\"")),
            "no {kind} failure logged:\n{log}"
        );
    }
    assert!(log.contains("outcome=\"no_plugin\""), "{log}");
}

/// How a short-lived `wxhost serve` went.
enum Served {
    /// It exited: status and stderr.
    Exited(std::process::ExitStatus, String),
    /// It answered `/healthz` on loopback (and was then stopped).
    Answered,
}

/// `wxhost serve` on `listen` (port `port`) with `env`, until it exits or
/// answers `/healthz`.
fn serve_briefly(listen: &str, port: u16, env: &[(&str, &str)]) -> Served {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(wxhost_tests::service::binary())
        .arg("serve")
        .current_dir(dir.path())
        .env("WXHOST_LISTEN", listen)
        .env("WXHOST_DATA_DIR", dir.path().join("data"))
        .env("WXHOST_PLUGINS_DIR", dir.path().join("plugins"))
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let healthy = || -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let mut answer = String::new();
        s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").is_ok()
            && s.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.0 200")
    };
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            let status = child.wait().unwrap();
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return Served::Exited(status, stderr);
        }
        if healthy() {
            let _ = child.kill();
            let _ = child.wait();
            return Served::Answered;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("wxhost neither exited nor answered on {listen}");
}

#[test]
fn serving_beyond_loopback_with_the_sample_credentials_is_refused_in_one_line() {
    let port = wxhost_tests::service::free_port();
    let all = format!("0.0.0.0:{port}");
    let Served::Exited(status, stderr) = serve_briefly(&all, port, &[]) else {
        panic!("wxhost served on {all} with the sample Token and EncodingAESKey");
    };
    assert!(!status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    for key in ["WXHOST_TOKEN", "WXHOST_ENCODING_AES_KEY", "WXHOST_APP_ID"] {
        assert!(stderr.contains(key), "{key}: {stderr}");
    }
    // With its own secrets it serves there, and on loopback it always does.
    let secrets = [
        ("WXHOST_TOKEN", "myowntoken"),
        (
            "WXHOST_ENCODING_AES_KEY",
            "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
        ),
    ];
    assert!(matches!(
        serve_briefly(&all, port, &secrets),
        Served::Answered
    ));
    let loopback = format!("127.0.0.1:{port}");
    assert!(matches!(
        serve_briefly(&loopback, port, &[]),
        Served::Answered
    ));
}

#[test]
fn a_bad_config_value_stops_start_up_with_one_line_naming_the_key() {
    let out = std::process::Command::new(wxhost_tests::service::binary())
        .arg("serve")
        .env("WXHOST_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("WXHOST_LISTEN") && stderr.contains("not-an-address"),
        "{stderr}"
    );
}

#[tokio::test]
async fn pushes_spinning_a_plugin_do_not_delay_other_pushes() {
    // Two workers (as on a 2-core machine) and three pushes that spin
    // `fault_loop` for its whole 4 s limit; keyword (priority 200) answers
    // "hello" at once and passes everything else on to the spinning plugin.
    let config = "[plugin.fault_loop]\ntimeout_ms = 4000\n\
                  [plugin.keyword]\npriority = 200\n\
                  [plugin.keyword.config]\nrules = \"hello=Hi there!\"\n";
    let host = Wxhost::start(
        &["fault_loop", "keyword"],
        config,
        &[("TOKIO_WORKER_THREADS", "2")],
    )
    .await;
    let now = wxhost::unix_now();
    let spinning: Vec<_> = (0..3)
        .map(|i| {
            let xml = Push::Text(format!("spin {i}")).to_xml("gh_test", "o_spin", now, 6100 + i);
            host.spawn_post_xml(&xml, Mode::Safe)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let body = host
        .push(&Push::Text("hello".into()), Mode::Safe, 6200)
        .await;
    let waited = asked.elapsed();
    assert_eq!(reply_of(&body), Reply::Text("Hi there!".into()));
    // Well inside the 5 s WeChat gives (a correctness bound, not a speed goal).
    assert!(
        waited < Duration::from_secs(2),
        "answered after {waited:?}\n{}",
        host.log()
    );
    for s in spinning {
        let (status, body) = s.await.unwrap();
        assert_eq!((status, body.as_str()), (200, "success"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = host.log();
    assert_eq!(
        log.matches("error.kind=\"timeout\"").count(),
        3,
        "every spinning call ends as a timeout:\n{log}"
    );
}
