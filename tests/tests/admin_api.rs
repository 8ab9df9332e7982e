//! The admin console's API and pages over real HTTP, in-process: the bearer
//! token, CSRF, the login limit, uploads validated like hot reload, the
//! audit log, menus refused before WeChat, QR scene counters, /metrics,
//! /readyz with the store really locked.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use wxhost::protocol::Push;
use wxhost_tests::console::{API_TOKEN, Console, csrf_in};
use wxhost_tests::fake_wechat::paths;
use wxhost_tests::service::wasm;

const VALID_MENU: &str = r#"{"button":[{"type":"click","name":"Today","key":"TODAY"},{"name":"More","sub_button":[{"type":"view","name":"Site","url":"https://example.com/"}]}]}"#;
const VALID_MENU_2: &str = r#"{"button":[{"type":"click","name":"Help","key":"HELP"}]}"#;
/// `button[1].sub_button[0] "Site"`: a view button without its url.
const INVALID_MENU: &str = r#"{"button":[{"type":"click","name":"Today","key":"TODAY"},{"name":"More","sub_button":[{"type":"view","name":"Site"}]}]}"#;

async fn json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON ({status}): {body}")),
    )
}

/// Every route of `/api/v1`, with a body where one is needed.
fn api_routes() -> Vec<(Method, &'static str, Vec<u8>)> {
    vec![
        (Method::GET, "/api/v1/plugins", vec![]),
        (Method::POST, "/api/v1/plugins?id=x", b"\0asm".to_vec()),
        (Method::POST, "/api/v1/plugins/echo/enable", vec![]),
        (Method::POST, "/api/v1/plugins/echo/disable", vec![]),
        (Method::POST, "/api/v1/plugins/echo/rollback", vec![]),
        (Method::GET, "/api/v1/plugins/echo/history", vec![]),
        (Method::GET, "/api/v1/menu", vec![]),
        (
            Method::POST,
            "/api/v1/menu",
            INVALID_MENU.as_bytes().to_vec(),
        ),
        (Method::DELETE, "/api/v1/menu", vec![]),
        (Method::GET, "/api/v1/menu/history", vec![]),
        (Method::POST, "/api/v1/menu/rollback/999", vec![]),
        (Method::GET, "/api/v1/qrcodes", vec![]),
        (
            Method::POST,
            "/api/v1/qrcodes",
            br#"{"scene": ""}"#.to_vec(),
        ),
        (Method::GET, "/api/v1/token", vec![]),
        (Method::POST, "/api/v1/token/refresh", vec![]),
        (Method::GET, "/api/v1/pushes", vec![]),
        (Method::GET, "/api/v1/instances", vec![]),
        (Method::GET, "/api/v1/audit", vec![]),
        (Method::GET, "/api/v1/accounts", vec![]),
        (
            Method::POST,
            "/api/v1/accounts",
            br#"{"name": "x"}"#.to_vec(),
        ),
        (Method::GET, "/api/v1/accounts/x", vec![]),
        (Method::PUT, "/api/v1/accounts/x", br#"{}"#.to_vec()),
        (Method::DELETE, "/api/v1/accounts/x", vec![]),
    ]
}

#[tokio::test]
async fn every_api_route_answers_401_without_the_bearer_token_and_works_with_it() {
    let c = Console::start(&["echo"]).await;
    for (method, path, body) in api_routes() {
        for auth in [
            None,
            Some("Bearer wrong-token-0123456789"),
            Some("Basic eDp5"),
        ] {
            let mut req = c
                .http
                .request(method.clone(), c.url(path))
                .body(body.clone());
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let (status, body) = json(req.send().await.unwrap()).await;
            assert_eq!(status, 401, "{method} {path} with {auth:?}: {body}");
            assert!(body["error"].as_str().unwrap().contains("bearer"), "{body}");
        }
        let res = c
            .api(method.clone(), path)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let (status, body) = json(res).await;
        assert!(
            status != 401 && status < 500,
            "{method} {path} with the token: {status} {body}"
        );
        if status >= 400 {
            assert!(body["error"].is_string(), "{method} {path}: {body}");
        }
    }
    // Nothing changed by the unauthenticated calls: echo serves, no menu
    // reached WeChat, and the audit log has only the token's calls.
    assert_eq!(c.fake.calls(paths::MENU_CREATE), 0);
    let (_, audit) = json(c.api(Method::GET, "/api/v1/audit").send().await.unwrap()).await;
    for e in audit["entries"].as_array().unwrap() {
        assert!(
            e["actor"].as_str().unwrap().starts_with("api@127.0.0.1"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn pages_without_a_session_redirect_to_the_login_page() {
    let c = Console::start(&["echo"]).await;
    for path in [
        "/", "/plugins", "/menus", "/qrcodes", "/token", "/pushes", "/audit",
    ] {
        let res = c.http.get(c.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(res.headers()["location"], "/login", "{path}");
    }
    // A made-up session cookie is no session.
    let res = c
        .http
        .get(c.url("/plugins"))
        .header("cookie", "wxhost_admin=made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_the_right_one_opens_a_session_that_logout_ends() {
    let c = Console::start(&["echo"]).await;
    let res = c.try_login("not the password").await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("Wrong password"));
    let res = c.try_login(wxhost_tests::console::PASSWORD).await;
    assert_eq!(res.status(), 303);
    let set = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("wxhost_admin="))
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = c.page(&cookie, "/plugins").await;
    assert!(page.contains("plugin-echo"), "{page}");
    // The session cookie is never the stored key: the database has its digest.
    let csrf = csrf_in(&page).unwrap();
    let res = c
        .http
        .post(c.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = c
        .http
        .get(c.url("/plugins"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "the session ended with logout");
}

#[tokio::test]
async fn the_login_form_without_its_csrf_token_is_refused() {
    let c = Console::start(&["echo"]).await;
    let (cookie, _csrf) = c.login_form().await;
    let res = c
        .http
        .post(c.url("/login"))
        .header("cookie", cookie)
        .form(&[
            ("csrf", "forged"),
            ("password", wxhost_tests::console::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_form_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let c = Console::start(&["echo"]).await;
    let s = c.login().await;
    for csrf in ["", "forged-token"] {
        let res = c
            .http
            .post(c.url("/plugins/echo/disable"))
            .header("cookie", &s.cookie)
            .form(&[("csrf", csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "csrf {csrf:?}");
        let res = c
            .http
            .post(c.url("/menus/publish"))
            .header("cookie", &s.cookie)
            .form(&[("csrf", csrf), ("menu", VALID_MENU), ("note", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "csrf {csrf:?}");
    }
    assert!(c.runtime.get("echo").is_some(), "echo still serving");
    assert_eq!(c.fake.calls(paths::MENU_CREATE), 0);
    // With the session's token it works.
    let res = c
        .http
        .post(c.url("/plugins/echo/disable"))
        .header("cookie", &s.cookie)
        .form(&[("csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(c.runtime.get("echo").is_none(), "echo switched off");
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_client_with_429() {
    let c = Console::start(&["echo"]).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(c.try_login("guess").await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    // Even the right password waits now: guessing is capped.
    let res = c.try_login(wxhost_tests::console::PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
}

/// The plugin `bot`'s sha256 as the API lists it.
async fn sha_of(c: &Console, id: &str) -> Option<String> {
    let (_, body) = json(c.api(Method::GET, "/api/v1/plugins").send().await.unwrap()).await;
    body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id && p["state"] == "serving")
        .map(|p| p["sha256"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn uploads_that_fail_validation_are_refused_and_the_working_version_keeps_serving() {
    let c = Console::start(&[]).await;
    let echo = std::fs::read(wasm("echo")).unwrap();
    let res = c
        .api(Method::POST, "/api/v1/plugins?id=bot")
        .body(echo.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(status, 201, "{body}");
    let good = sha_of(&c, "bot").await.expect("bot serving");
    assert_eq!(body["plugin"]["sha256"], good.as_str());
    // Published to the store (every instance serves it), not written to
    // the plugins directory.
    let published = || async { c.stores.published.history("bot").await.unwrap() };
    let history = published().await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].digest, good);
    assert_eq!(
        c.stores.published.blob(&good).await.unwrap().as_deref(),
        Some(echo.as_slice())
    );

    let truncated = echo[..echo.len() / 2].to_vec();
    let wit_v2 = std::fs::read(wasm("fault_wit_v2")).unwrap();
    let bad_describe = std::fs::read(wasm("fault_describe")).unwrap();
    for (what, bytes, reason) in [
        ("truncated", truncated, "not a valid WebAssembly component"),
        ("wrong WIT version", wit_v2, "this host supports"),
        ("trapping describe", bad_describe, "describe failed"),
    ] {
        let res = c
            .api(Method::POST, "/api/v1/plugins?id=bot")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let (status, body) = json(res).await;
        assert_eq!(status, 422, "{what}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(reason), "{what}: {error}");
        assert_eq!(
            sha_of(&c, "bot").await.as_deref(),
            Some(good.as_str()),
            "{what}"
        );
        assert_eq!(published().await, history, "{what}: store untouched");
        let reply = c.push(&Push::Text("hello".into()), rand::random()).await;
        assert!(
            reply.contains("hello"),
            "{what}: the old version still answers: {reply}"
        );
    }
    // The plugins directory is left alone.
    let names: Vec<String> = std::fs::read_dir(c.dir.path().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.is_empty(), "{names:?}");
    // A bad id is refused before anything is read.
    let res = c
        .api(Method::POST, "/api/v1/plugins?id=../evil")
        .body(echo)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
}

#[tokio::test]
async fn an_invalid_menu_is_refused_naming_the_button_and_never_reaches_wechat() {
    let c = Console::start(&["echo"]).await;
    let res = c
        .api(Method::POST, "/api/v1/menu?note=broken")
        .body(INVALID_MENU)
        .send()
        .await
        .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(status, 400, "{body}");
    let problems = body["problems"].to_string();
    assert!(
        problems.contains(r#"button[1].sub_button[0] \"Site\""#),
        "{problems}"
    );
    assert_eq!(c.fake.total_calls(), 0, "WeChat got no call at all");

    for (menu, note) in [(VALID_MENU, "first"), (VALID_MENU_2, "second")] {
        let res = c
            .api(Method::POST, &format!("/api/v1/menu?note={note}"))
            .body(menu)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    assert_eq!(c.fake.calls(paths::MENU_CREATE), 2);
    let (_, h) = json(
        c.api(Method::GET, "/api/v1/menu/history")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let versions = h["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    let first = versions[1]["version"].as_i64().unwrap();
    let res = c
        .api(Method::POST, &format!("/api/v1/menu/rollback/{first}"))
        .send()
        .await
        .unwrap();
    let (status, v) = json(res).await;
    assert_eq!((status, v["current"].as_bool()), (200, Some(true)), "{v}");
    let live = c.fake.menu().unwrap().to_string();
    assert!(
        live.contains("Today") && !live.contains("Help"),
        "WeChat has the rolled-back menu: {live}"
    );
    let (_, cur) = json(c.api(Method::GET, "/api/v1/menu").send().await.unwrap()).await;
    assert_eq!(cur["current"]["version"].as_i64(), Some(first));
}

#[tokio::test]
async fn admin_actions_are_written_to_the_audit_log_with_who_and_what() {
    let c = Console::start(&["echo"]).await;
    let calls: Vec<(Method, String, Vec<u8>)> = vec![
        (Method::POST, "/api/v1/plugins/echo/disable".into(), vec![]),
        (Method::POST, "/api/v1/plugins/echo/enable".into(), vec![]),
        (
            Method::POST,
            "/api/v1/menu?note=spring".into(),
            VALID_MENU.as_bytes().to_vec(),
        ),
        (
            Method::POST,
            "/api/v1/menu".into(),
            INVALID_MENU.as_bytes().to_vec(),
        ),
        (
            Method::POST,
            "/api/v1/qrcodes".into(),
            json!({"scene": "promo42", "note": "poster"})
                .to_string()
                .into_bytes(),
        ),
        (Method::POST, "/api/v1/token/refresh".into(), vec![]),
        (
            Method::POST,
            "/api/v1/plugins?id=up".into(),
            std::fs::read(wasm("echo")).unwrap(),
        ),
    ];
    for (m, path, body) in calls {
        let res = c.api(m, &path).body(body).send().await.unwrap();
        assert!(res.status().as_u16() < 500, "{path}: {}", res.status());
    }
    // A console session's actions are audited too.
    let s = c.login().await;
    let res = c
        .http
        .post(c.url("/menus/delete"))
        .header("cookie", &s.cookie)
        .form(&[("csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    let (_, audit) = json(c.api(Method::GET, "/api/v1/audit").send().await.unwrap()).await;
    let entries = audit["entries"].as_array().unwrap();
    let by_action: HashMap<&str, Vec<&Value>> = entries.iter().fold(HashMap::new(), |mut m, e| {
        m.entry(e["action"].as_str().unwrap()).or_default().push(e);
        m
    });
    for action in [
        "plugin_disable",
        "plugin_enable",
        "menu_publish",
        "qrcode_create",
        "token_refresh",
        "plugin_upload",
        "menu_delete",
        "login",
    ] {
        assert!(by_action.contains_key(action), "{action} missing: {audit}");
    }
    let publishes = &by_action["menu_publish"];
    assert!(publishes.iter().any(|e| {
        e["detail"]
            .as_str()
            .unwrap()
            .contains("published as version")
    }));
    assert!(
        publishes
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("refused"))
    );
    assert!(
        by_action["plugin_disable"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("api@127.0.0.1")
    );
    assert!(
        by_action["menu_delete"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("admin@127.0.0.1")
    );
    assert!(
        entries
            .iter()
            .all(|e| e["at"].as_i64().unwrap() > 1_700_000_000)
    );
    // The audit page shows them.
    let page = c.page(&s.cookie, "/audit").await;
    assert!(
        page.contains("menu_delete") && page.contains("plugin_upload"),
        "{page}"
    );
    // Secrets never show: not the API token, not the access_token.
    let tokens = c.fake.valid_tokens();
    for text in [audit.to_string(), page] {
        assert!(!text.contains(API_TOKEN));
        for t in &tokens {
            assert!(!text.contains(t.as_str()));
        }
    }
}

#[tokio::test]
async fn scans_and_follows_are_counted_per_scene() {
    let c = Console::start(&["echo"]).await;
    let res = c
        .api(Method::POST, "/api/v1/qrcodes")
        .body(json!({"scene": "promo42"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // Events are named by their fields (no MsgId): each from its own user,
    // so none is taken for a retry of another.
    for (user, push) in [
        (
            "o_scan_a_0123456789",
            Push::Scan {
                scene: "promo42".into(),
            },
        ),
        (
            "o_scan_b_0123456789",
            Push::Scan {
                scene: "promo42".into(),
            },
        ),
        (
            "o_new_c_0123456789",
            Push::Subscribe {
                scene: Some("promo42".into()),
            },
        ),
        ("o_new_d_0123456789", Push::Subscribe { scene: None }),
    ] {
        c.push_from(&push, user, 0).await;
    }
    let counted = c
        .eventually(Duration::from_secs(5), || async {
            let (_, body) = json(c.api(Method::GET, "/api/v1/qrcodes").send().await.unwrap()).await;
            let code = &body["qrcodes"][0];
            code["scans"] == 2 && code["follows"] == 1
        })
        .await;
    assert!(counted, "scans 2, follows 1 for promo42");
}

/// Sums a metric's samples whose labels include `labels`.
fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text parses");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_the_pushes() {
    let c = Console::start(&["echo", "fault_panic"]).await;
    let scrape = || async {
        c.http
            .get(c.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // Counters are per process (tests share it): compare before and after.
    let before = scrape().await;
    let pushes = |t: &str| {
        metric_sum(
            t,
            "wxhost_pushes_total",
            &[
                ("kind", "text"),
                ("outcome", "reply"),
                ("account", "default"),
            ],
        )
    };
    let failures = |t: &str| {
        metric_sum(
            t,
            "wxhost_plugin_failures_total",
            &[("plugin", "fault_panic"), ("class", "panic")],
        )
    };
    let latency_count = |t: &str| metric_sum(t, "wxhost_push_latency_seconds_count", &[]);
    for _ in 0..3 {
        let reply = c.push(&Push::Text("hi".into()), rand::random()).await;
        assert!(reply.contains("hi"), "{reply}");
    }
    let after = scrape().await;
    assert!(pushes(&after) >= pushes(&before) + 3.0, "{after}");
    assert!(failures(&after) >= failures(&before) + 3.0, "{after}");
    assert!(
        latency_count(&after) >= latency_count(&before) + 3.0,
        "{after}"
    );
    assert!(
        after.contains("# TYPE wxhost_push_latency_seconds histogram"),
        "{after}"
    );
    assert!(
        metric_sum(
            &after,
            "wxhost_plugin_calls_total",
            &[("plugin", "echo"), ("account", "default")]
        ) >= 3.0
    );
    assert!(metric_sum(&after, "wxhost_plugins_loaded", &[]) >= 1.0);
    // No openid or message content in any label.
    assert!(
        !after.contains("o_test_user") && !after.contains("\"hi\""),
        "{after}"
    );
}

#[tokio::test]
async fn readyz_fails_while_another_connection_holds_the_store_locked() {
    let c = Console::start(&["echo"]).await;
    let admin_ready = c.url("/readyz");
    let callback_ready = format!("{}/readyz", c.callback_base);
    for url in [&admin_ready, &callback_ready] {
        let res = c.http.get(url.as_str()).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(
            c.http
                .get(url.replace("readyz", "healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    // Another process's connection holds the database's write lock (a write
    // transaction left open): every write of the server waits out its busy
    // timeout and fails with SQLITE_BUSY.
    let db = c.dir.path().join("data/wxhost.db");
    let locker = rusqlite::Connection::open(&db).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE; INSERT INTO audit_log (at, actor, action, detail) VALUES (0, 'lock', 'lock', 'lock');").unwrap();
    // A probe's answer is reused for a second.
    tokio::time::sleep(wxhost::http::health::PROBE_EVERY).await;
    for url in [&admin_ready, &callback_ready] {
        let res = c.http.get(url.as_str()).send().await.unwrap();
        assert_eq!(res.status(), 503, "{url}");
        let text = res.text().await.unwrap();
        if url == &admin_ready {
            assert!(text.contains("store unavailable"), "{text}");
        } else {
            // The public listener gives a reason code, no internal text.
            assert_eq!(text, "not ready: store\n");
        }
        // Alive all the same.
        assert_eq!(
            c.http
                .get(url.replace("readyz", "healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    locker.execute_batch("ROLLBACK;").unwrap();
    drop(locker);
    let ready = c
        .eventually(Duration::from_secs(5), || async {
            c.http
                .get(admin_ready.as_str())
                .send()
                .await
                .unwrap()
                .status()
                == 200
        })
        .await;
    assert!(ready, "ready again once the lock is gone");
}

#[tokio::test]
async fn a_plugin_switched_off_in_the_console_stays_off_after_a_restart_and_the_config_wins() {
    let c = Console::start(&["echo", "keyword"]).await;
    let res = c
        .api(Method::POST, "/api/v1/plugins/echo/disable")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        c.push(&Push::Text("hi".into()), rand::random()).await,
        "success"
    );
    let dir = c.stop().await;
    // Restarted on the same data dir, with keyword disabled in the config.
    let c = Console::start_with(&[], "[plugin.keyword]\nenabled = false\n", &[], Some(dir)).await;
    assert!(c.runtime.get("echo").is_none(), "echo stays off");
    let (_, body) = json(c.api(Method::GET, "/api/v1/plugins").send().await.unwrap()).await;
    let by: HashMap<String, String> = body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["disabled_by"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(by["echo"], "console");
    assert_eq!(by["keyword"], "config");
    let res = c
        .api(Method::POST, "/api/v1/plugins/keyword/enable")
        .send()
        .await
        .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("plugin.keyword.enabled")
    );
    let res = c
        .api(Method::POST, "/api/v1/plugins/echo/enable")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        c.push(&Push::Text("hi".into()), rand::random())
            .await
            .contains("hi")
    );
    let res = c
        .api(Method::POST, "/api/v1/plugins/nope/enable")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn without_a_password_a_one_time_login_link_opens_one_session() {
    let c = Console::start_with(&["echo"], "", &[("WXHOST_ADMIN_PASSWORD", "")], None).await;
    // The password form is not offered, and no password works.
    let page = c
        .http
        .get(c.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("one-time login link") && !page.contains(r#"id="password""#));
    // Without a form there is no CSRF token either: a bare post is refused
    // and starts no session.
    let res = c
        .http
        .post(c.url("/login"))
        .form(&[("password", ""), ("csrf", "")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    assert!(wxhost_tests::console::set_cookie(&res, "wxhost_admin").is_none());
    let token = c.admin.auth.issue_link().await.unwrap().expect("a link");
    let link = c.url(&format!("/login?token={token}"));
    let res = c.http.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let cookie = wxhost_tests::console::set_cookie(&res, "wxhost_admin").expect("session");
    assert!(c.page(&cookie, "/plugins").await.contains("plugin-echo"));
    // Single use.
    assert_eq!(c.http.get(&link).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn serve_logs_the_login_link_once_and_never_a_secret() {
    let admin = format!("127.0.0.1:{}", wxhost_tests::service::free_port());
    let host = wxhost_tests::service::Wxhost::start(
        &["echo"],
        "",
        &[
            ("WXHOST_ADMIN_LISTEN", admin.as_str()),
            ("WXHOST_ADMIN_API_TOKEN", API_TOKEN),
        ],
    )
    .await;
    let log = host.log();
    let at = log.find("/login?token=").expect("the link is logged") + "/login?token=".len();
    let token: String = log[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert_eq!(log.matches("/login?token=").count(), 1, "logged once");
    assert!(!log.contains(API_TOKEN), "{log}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let link = format!("http://{admin}/login?token={token}");
    assert_eq!(http.get(&link).send().await.unwrap().status(), 303);
    assert_eq!(http.get(&link).send().await.unwrap().status(), 401);
    // The console and the callback both answer health checks.
    for base in [
        format!("http://{admin}"),
        format!("http://127.0.0.1:{}", host.port),
    ] {
        assert_eq!(
            http.get(format!("{base}/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

/// The console's account switcher: a page acts for the account its
/// `?account=` names, its forms carry it, and what they do lands in that
/// account's store and goes to WeChat with that account's token.
#[tokio::test]
async fn the_console_acts_for_the_account_its_page_names() {
    const SHOP_APP_ID: &str = "wxshop0000000001";
    const SHOP_SECRET: &str = "shop-secret-0123456789abcdef0123";
    let c = Console::start_with(
        &["echo"],
        "[account.shop]\napp_id = \"wxshop0000000001\"\ntoken = \"shoptoken\"\n",
        &[("WXHOST_ACCOUNT_SHOP_APP_SECRET", SHOP_SECRET)],
        None,
    )
    .await;
    c.fake.add_app(SHOP_APP_ID, SHOP_SECRET);
    let s = c.login().await;

    // The default page offers the switcher; the shop's page says whose it is
    // and carries the account in every link and form.
    let page = c.page(&s.cookie, "/menus").await;
    assert!(page.contains("id=\"account-switch\""), "{page}");
    assert!(!page.contains("action=\"/menus/publish?account="), "{page}");
    let page = c.page(&s.cookie, "/menus?account=shop").await;
    assert!(page.contains("<option value=\"shop\" selected>"), "{page}");
    assert!(page.contains("id=\"acting-account\">· shop"), "{page}");
    assert!(
        page.contains("action=\"/menus/publish?account=shop\""),
        "{page}"
    );
    assert!(page.contains("href=\"/qrcodes?account=shop\""), "{page}");

    let res = c
        .http
        .post(c.url("/menus/publish?account=shop"))
        .header("cookie", &s.cookie)
        .form(&[
            ("csrf", s.csrf.as_str()),
            ("menu", VALID_MENU),
            ("note", "shop menu"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let back = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with("/menus?") && back.contains("account=shop"),
        "{back}"
    );
    assert_eq!(c.fake.apps_called(paths::MENU_CREATE), [SHOP_APP_ID]);
    let shop = c.stores.for_account("shop").unwrap();
    assert_eq!(
        shop.menus.current().await.unwrap().map(|v| v.note),
        Some(Some("shop menu".to_owned()))
    );
    assert!(
        c.stores.menus.current().await.unwrap().is_none(),
        "the default's menu is untouched"
    );
    // Its audit entry is the shop's.
    let audit = c.page(&s.cookie, "/audit?account=shop").await;
    assert!(audit.contains("menu_publish"), "{audit}");
    let audit = c.page(&s.cookie, "/audit").await;
    assert!(!audit.contains("menu_publish"), "{audit}");

    // Every recent push names its account, in the console and the API.
    c.push(&Push::Text("hi".into()), rand::random()).await;
    let res = c.api(Method::GET, "/api/v1/pushes").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["pushes"][0]["account"], "default", "{body}");
    let page = c.page(&s.cookie, "/pushes").await;
    assert!(page.contains("<th>Account</th>"), "{page}");

    // An account that is not served: a 404, nothing done.
    let res = c
        .http
        .get(c.url("/menus?account=nope"))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_console_shows_each_plugins_source_and_rolls_a_published_one_back() {
    let c = Console::start(&["keyword"]).await;
    let (v1, v2) = (
        std::fs::read(wasm("echo")).unwrap(),
        std::fs::read(wasm("fixture")).unwrap(),
    );
    for v in [&v1, &v2] {
        let res = c
            .api(Method::POST, "/api/v1/plugins?id=bot")
            .body(v.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let s = c.login().await;
    let page = c.page(&s.cookie, "/plugins").await;
    let row = |id: &str| {
        let at = page.find(&format!("id=\"plugin-{id}\"")).unwrap();
        let end = page[at..].find("</tr>").unwrap();
        page[at..at + end].to_owned()
    };
    assert!(
        row("bot").contains(r#"<span class="pill source">store</span>"#),
        "{}",
        row("bot")
    );
    assert!(
        row("bot").contains("/plugins/bot/rollback"),
        "{}",
        row("bot")
    );
    assert!(row("keyword").contains(r#"<span class="pill source">directory</span>"#));
    assert!(!row("keyword").contains("rollback"), "nothing to roll back");
    // The button: the version before the current one serves again.
    let res = c
        .http
        .post(c.url("/plugins/bot/rollback"))
        .header("cookie", &s.cookie)
        .form(&[("csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        sha_of(&c, "bot").await.as_deref(),
        Some(wxhost::store::published::digest(&v1).as_str())
    );
    let audit = c.stores.audit.recent(1).await.unwrap();
    assert_eq!(audit[0].action, "plugin_rollback");
    // Without the session's token: refused, nothing changes.
    let res = c
        .http
        .post(c.url("/plugins/bot/rollback"))
        .header("cookie", &s.cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(c.stores.published.history("bot").await.unwrap().len(), 3);
}
