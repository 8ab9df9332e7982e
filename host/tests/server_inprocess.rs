//! The service in process: the router driven with `oneshot` for the status
//! and content-type of every kind of answer, and `server::run` on a real
//! listener with a shutdown future. (Signals, config errors and log content
//! are tested against the binary in `tests/`.)

mod plugin_support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use wxhost::config::Config;
use wxhost::protocol::{self, AesKey, Mode, MsgCrypt, Push};
use wxhost::server::{self, Service};
use wxhost::store::Stores;

const TOKEN: &str = "pamtest";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wxb11529c136998cb6";

struct Fixture {
    service: Service,
    _dir: tempfile::TempDir,
}

/// The built-in config over a temp dir, with `plugins` installed.
async fn service(plugins: &[&str]) -> Fixture {
    service_with(plugins, &[]).await
}

/// [`service`] with environment overrides.
async fn service_with(plugins: &[&str], overrides: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins_dir).unwrap();
    for p in plugins {
        std::fs::copy(
            plugin_support::wasm(p),
            plugins_dir.join(format!("{p}.wasm")),
        )
        .unwrap();
    }
    let mut env = vec![
        (
            "WXHOST_PLUGINS_DIR".to_owned(),
            plugins_dir.display().to_string(),
        ),
        (
            "WXHOST_DATA_DIR".to_owned(),
            dir.path().join("data").display().to_string(),
        ),
    ];
    env.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let config = Config::from_toml("test", "[plugins]\nwatch = false\n", &env).unwrap();
    let stores = Stores::sqlite(&config.storage.data_dir).unwrap();
    Fixture {
        service: Service::build(&config, stores).await.unwrap(),
        _dir: dir,
    }
}

fn crypt() -> MsgCrypt {
    MsgCrypt::new(AesKey::from_encoding_aes_key(AES_KEY).unwrap(), APP_ID)
}

/// A signed push request of `push` in `mode`.
fn push_request(push: &Push, mode: Mode) -> Request<Body> {
    let now = wxhost::unix_now();
    let xml = push.to_xml("gh_test", "o_user", now, rand_id());
    let (url, body) = protocol::signed_request("/wechat", TOKEN, Some(&crypt()), mode, &xml, now);
    Request::post(url).body(Body::from(body)).unwrap()
}

/// `push` from `from` in `mode`, signed at `now` with `nonce`: the query and body.
fn signed(push: &Push, from: &str, mode: Mode, nonce: &str) -> (protocol::CallbackQuery, String) {
    let now = wxhost::unix_now();
    let xml = push.to_xml("gh_test", from, now, rand_id());
    protocol::build_push(TOKEN, Some(&crypt()), mode, &xml, now, nonce)
}

fn post(q: &protocol::CallbackQuery, body: &str) -> Request<Body> {
    Request::post(format!("/wechat?{}", q.to_query_string()))
        .body(Body::from(body.to_owned()))
        .unwrap()
}

const ALLOW_PLAINTEXT: (&str, &str) = ("WXHOST_REQUIRE_ENCRYPTION", "false");

fn rand_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        >> 1
}

async fn send(f: &Fixture, req: Request<Body>) -> (StatusCode, String, String) {
    let res = f.service.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(res.into_body(), 4 << 20)
        .await
        .unwrap();
    (status, ct, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_4xx_with_their_label_as_plain_text() {
    let f = service(&[]).await;
    let cases = [
        (
            Request::post("/wechat?timestamp=1&nonce=n").body(Body::empty()),
            StatusCode::BAD_REQUEST,
            "missing_parameter",
        ),
        (
            Request::post("/wechat?signature=00&timestamp=1&nonce=n").body(Body::from("<xml/>")),
            StatusCode::FORBIDDEN,
            "bad_signature",
        ),
        (
            Request::get("/wechat?signature=00&timestamp=1&nonce=n&echostr=e").body(Body::empty()),
            StatusCode::FORBIDDEN,
            "bad_signature",
        ),
    ];
    for (req, status, label) in cases {
        let (s, ct, body) = send(&f, req.unwrap()).await;
        assert_eq!(
            (s, ct.as_str(), body.as_str()),
            (status, "text/plain", label)
        );
    }
    // A tampered ciphertext is the client's mistake too.
    let now = wxhost::unix_now();
    let xml = Push::Text("x".into()).to_xml("gh_test", "o_user", now, 1);
    let (url, body) =
        protocol::signed_request("/wechat", TOKEN, Some(&crypt()), Mode::Safe, &xml, now);
    let tampered = body.replace("<Encrypt><![CDATA[", "<Encrypt><![CDATA[AAAA");
    let (s, _, label) = send(&f, Request::post(url).body(Body::from(tampered)).unwrap()).await;
    assert!(s.is_client_error(), "{s} {label}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_paths_methods_and_sizes_are_client_errors() {
    let f = service(&[]).await;
    let (s, _, _) = send(&f, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = send(&f, Request::put("/wechat").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let big = vec![b'a'; (1 << 20) + 1];
    let (s, _, _) = send(
        &f,
        Request::post("/wechat?signature=0&timestamp=1&nonce=n")
            .body(Body::from(big))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(flavor = "multi_thread")]
async fn verification_echoes_echostr_as_plain_text() {
    let f = service(&[]).await;
    let ts = wxhost::unix_now().to_string();
    let sig = protocol::signature(&[TOKEN, &ts, "n1"]);
    let url = format!("/wechat?signature={sig}&timestamp={ts}&nonce=n1&echostr=hello123");
    let (s, ct, body) = send(&f, Request::get(url).body(Body::empty()).unwrap()).await;
    assert_eq!(
        (s, ct.as_str(), body.as_str()),
        (StatusCode::OK, "text/plain", "hello123")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_is_encrypted_xml_and_no_answer_is_plain_success() {
    let f = service(&["echo"]).await;
    let (s, ct, body) = send(&f, push_request(&Push::Text("hi".into()), Mode::Safe)).await;
    assert_eq!((s, ct.as_str()), (StatusCode::OK, "application/xml"));
    let plain = protocol::open_reply(TOKEN, &crypt(), &body).unwrap();
    assert!(
        plain.contains("<Content><![CDATA[hi]]></Content>"),
        "{plain}"
    );
    // No plugin handles a click: `success`, never encrypted.
    let (s, ct, body) = send(
        &f,
        push_request(&Push::event("click", Some("K".into())), Mode::Safe),
    )
    .await;
    assert_eq!(
        (s, ct.as_str(), body.as_str()),
        (StatusCode::OK, "text/plain", "success")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_serves_a_listener_until_shutdown() {
    let f = service(&[]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(f.service, listener, async {
        let _ = stopped.await;
    }));
    let body = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok");
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("run returns after shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_key_configured_plaintext_pushes_are_refused_unless_allowed() {
    let f = service(&["echo"]).await;
    let (s, _, body) = send(&f, push_request(&Push::Text("hi".into()), Mode::Plaintext)).await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::FORBIDDEN, "encryption_required")
    );
    let f = service_with(&["echo"], &[ALLOW_PLAINTEXT]).await;
    let (s, _, body) = send(&f, push_request(&Push::Text("hi".into()), Mode::Plaintext)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("<Content><![CDATA[hi]]></Content>"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leaked_query_cannot_carry_a_forged_plaintext_push() {
    // Even where plaintext is allowed: the real push was in safe mode, its
    // query (signature, timestamp, nonce) leaked through a proxy log.
    let f = service_with(&["echo"], &[ALLOW_PLAINTEXT]).await;
    let (q, body) = signed(&Push::Text("real".into()), "o_user", Mode::Safe, "4711");
    assert_eq!(send(&f, post(&q, &body)).await.0, StatusCode::OK);
    let leaked = protocol::CallbackQuery {
        encrypt_type: None,
        msg_signature: None,
        ..q.clone()
    };
    let forged = Push::Text("forged".into()).to_xml("gh_test", "o_anyone", wxhost::unix_now(), 1);
    for _ in 0..3 {
        let (s, _, label) = send(&f, post(&leaked, &forged)).await;
        assert_eq!((s, label.as_str()), (StatusCode::FORBIDDEN, "nonce_reused"));
    }
    // The identical request is a retry: the same reply.
    let (s, _, again) = send(&f, post(&q, &body)).await;
    assert_eq!(s, StatusCode::OK);
    let plain = protocol::open_reply(TOKEN, &crypt(), &again).unwrap();
    assert!(
        plain.contains("<Content><![CDATA[real]]></Content>"),
        "{plain}"
    );

    // A plaintext push's query authenticates its own body only.
    let (q, body) = signed(
        &Push::Text("mine".into()),
        "o_user",
        Mode::Plaintext,
        "4712",
    );
    assert_eq!(send(&f, post(&q, &body)).await.0, StatusCode::OK);
    let (s, _, label) = send(&f, post(&q, &forged)).await;
    assert_eq!((s, label.as_str()), (StatusCode::FORBIDDEN, "nonce_reused"));
    let (s, _, again) = send(&f, post(&q, &body)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        again.contains("<Content><![CDATA[mine]]></Content>"),
        "{again}"
    );

    // And so does a verification GET's.
    let ts = wxhost::unix_now().to_string();
    let sig = protocol::signature(&[TOKEN, &ts, "4713"]);
    let get = format!("/wechat?signature={sig}&timestamp={ts}&nonce=4713&echostr=e");
    let (s, _, _) = send(&f, Request::get(get).body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let leaked = format!("/wechat?signature={sig}&timestamp={ts}&nonce=4713");
    let (s, _, label) = send(&f, Request::post(leaked).body(Body::from(forged)).unwrap()).await;
    assert_eq!((s, label.as_str()), (StatusCode::FORBIDDEN, "nonce_reused"));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_subscribe_message_popups_in_one_second_both_reach_the_plugin() {
    let f = service(&["fixture"]).await;
    let now = wxhost::unix_now();
    let popup = |template: &str| {
        format!(
            "<xml><ToUserName>gh_test</ToUserName><FromUserName>o_user</FromUserName>\
             <CreateTime>{now}</CreateTime><MsgType>event</MsgType>\
             <Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent><List>\
             <TemplateId>{template}</TemplateId><SubscribeStatusString>accept</SubscribeStatusString>\
             <PopupScene>2</PopupScene></List></SubscribeMsgPopupEvent></xml>"
        )
    };
    for template in ["T1", "T2"] {
        let (url, body) = protocol::signed_request(
            "/wechat",
            TOKEN,
            Some(&crypt()),
            Mode::Safe,
            &popup(template),
            now,
        );
        let (s, _, reply) = send(&f, Request::post(url).body(Body::from(body)).unwrap()).await;
        assert_eq!(s, StatusCode::OK);
        let plain = protocol::open_reply(TOKEN, &crypt(), &reply).unwrap();
        assert!(
            plain.contains(&format!("popup {template}=accept")),
            "{template}: {plain}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_built_to_amplify_its_fields_is_refused_as_too_large() {
    let f = service(&[]).await;
    let name = "N".repeat(256);
    let xml = format!(
        "<xml><ToUserName>gh_test</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>\
         <MsgType>text</MsgType>{}{}{}</xml>",
        format!("<{name}>").repeat(14),
        "<a/>".repeat(4000),
        format!("</{name}>").repeat(14),
    );
    let now = wxhost::unix_now();
    let (url, body) =
        protocol::signed_request("/wechat", TOKEN, Some(&crypt()), Mode::Safe, &xml, now);
    let (s, _, label) = send(&f, Request::post(url).body(Body::from(body)).unwrap()).await;
    assert_eq!(
        (s, label.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "fields_too_large")
    );
    let long = "L".repeat(10_000);
    let xml = format!("<xml><{long}>x</{long}></xml>");
    let (url, body) =
        protocol::signed_request("/wechat", TOKEN, Some(&crypt()), Mode::Safe, &xml, now);
    let (s, _, label) = send(&f, Request::post(url).body(Body::from(body)).unwrap()).await;
    assert_eq!(
        (s, label.as_str()),
        (StatusCode::BAD_REQUEST, "name_too_long")
    );
}
