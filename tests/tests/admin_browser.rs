//! The admin console in a real browser: Debian's Chromium, driven through
//! ChromeDriver (WebDriver, the `fantoccini` crate), against a real
//! `wxhost serve` talking to the fake WeChat. `scripts/setup-browser.sh`
//! (run by `make test`) installs both when missing. A PNG screenshot of each
//! page is saved under `<target dir>/admin-screenshots/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::json;
use wxhost::protocol::{Mode, Push};
use wxhost_tests::FakeWechat;
use wxhost_tests::fake_wechat::paths;
use wxhost_tests::service::{Wxhost, free_port, wasm};
use wxhost_tests::webdriver::{browser, start_driver};

const PASSWORD: &str = "browser-test-password";

/// Where the screenshots go: the cargo target dir.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| {
            // <target>/debug/deps/admin_browser-…
            let exe = std::env::current_exe().unwrap();
            exe.ancestors().nth(3).unwrap().to_path_buf()
        });
    let dir = target.join("admin-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Shots {
    dir: PathBuf,
    n: usize,
}

impl Shots {
    async fn take(&mut self, c: &Client, name: &str) {
        self.n += 1;
        // The whole page, not just the window: make the window as tall as it.
        let height = c
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(1000)
            .clamp(600, 4000);
        let _ = c.set_window_size(1280, height as u32 + 120).await;
        let png = c.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.dir.join(format!("{:02}-{name}.png", self.n));
        std::fs::write(&path, png).unwrap();
        let _ = c.set_window_size(1280, 1000).await;
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// Clicks a button that submits a form, and waits for the next page: until
/// the old page's root element is gone (a click returns before the
/// navigation it starts).
async fn click(c: &Client, css: &str) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while old.tag_name().await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "{css}: no new page after the click"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The failure count of a plugin's row on the plugins page.
async fn failed_count(c: &Client, base: &str, id: &str) -> u64 {
    c.goto(&format!("{base}/plugins")).await.unwrap();
    let t = text_of(c, &format!("#plugin-{id} td.failed")).await;
    t.split_whitespace().next().unwrap().parse().unwrap()
}

/// Sets a textarea's value (typing a long JSON through WebDriver is slow).
async fn set_value(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    c.execute(
        "arguments[0].value = arguments[1];",
        vec![serde_json::to_value(&e).unwrap(), json!(value)],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_operator_runs_the_account_from_the_console_in_a_real_browser() {
    let fake = FakeWechat::start().await;
    let admin_port = free_port();
    let admin_listen = format!("127.0.0.1:{admin_port}");
    let base = format!("http://{admin_listen}");
    let host = Wxhost::start(
        &["echo", "fault_panic"],
        "",
        &[
            ("WXHOST_ADMIN_LISTEN", admin_listen.as_str()),
            ("WXHOST_ADMIN_PASSWORD", PASSWORD),
            ("WXHOST_API_BASE_URL", &fake.base_url()),
            ("WXHOST_APP_SECRET", wxhost_tests::fake_wechat::APP_SECRET),
        ],
    )
    .await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    let mut shots = Shots {
        dir: screenshot_dir(),
        n: 0,
    };

    // Log in: a wrong password is refused.
    c.goto(&format!("{base}/")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    fill(&c, "#password", "not-the-password").await;
    click(&c, "#login").await;
    assert!(text_of(&c, "#error").await.contains("Wrong password"));
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    shots.take(&c, "login-refused").await;
    fill(&c, "#password", PASSWORD).await;
    click(&c, "#login").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");

    // The loaded plugins; make the fault plugin trap and see it counted.
    let before = failed_count(&c, &base, "fault_panic").await;
    assert!(text_of(&c, "#plugin-echo").await.contains("serving"));
    for i in 0..3 {
        let reply = host
            .push(&Push::Text(format!("hello {i}")), Mode::Safe, 9000 + i)
            .await;
        assert!(
            reply.contains(&format!("hello {i}")),
            "echo still answers: {reply}"
        );
    }
    let after = failed_count(&c, &base, "fault_panic").await;
    assert_eq!(after, before + 3, "the fault plugin's failures rose");
    assert!(
        text_of(&c, "#plugin-fault_panic td.last-error")
            .await
            .contains("plugin bug")
    );
    // A bad upload is refused with the reason; echo keeps serving.
    c.find(Locator::Css("#upload-file"))
        .await
        .unwrap()
        .send_keys(
            &wasm("fault_wit_v2")
                .canonicalize()
                .unwrap()
                .display()
                .to_string(),
        )
        .await
        .unwrap();
    fill(&c, "#upload-id", "echo").await;
    click(&c, "#upload-button").await;
    assert!(text_of(&c, "#error").await.contains("this host supports"));
    assert!(text_of(&c, "#plugin-echo").await.contains("serving"));
    shots.take(&c, "plugins").await;

    // The overview has the pushes.
    c.goto(&format!("{base}/")).await.unwrap();
    let pushes: u64 = text_of(&c, "#pushes-hour").await.parse().unwrap();
    assert!(pushes >= 3, "{pushes}");
    shots.take(&c, "overview").await;

    // An invalid menu: the error names the button, and WeChat got no call.
    c.goto(&format!("{base}/menus")).await.unwrap();
    set_value(
        &c,
        "#menu-editor",
        r#"{"button":[{"type":"click","name":"Today","key":"TODAY"},{"name":"More","sub_button":[{"type":"view","name":"Site"}]}]}"#,
    )
    .await;
    fill(&c, "#menu-note", "broken").await;
    click(&c, "#menu-publish").await;
    let problems = text_of(&c, "#problems").await;
    assert!(
        problems.contains(r#"button[1].sub_button[0] "Site""#),
        "{problems}"
    );
    assert_eq!(fake.calls(paths::MENU_CREATE), 0, "WeChat got no call");
    shots.take(&c, "menu-refused").await;
    // Publish two valid ones, then roll back to the first.
    for (menu, note) in [
        (
            r#"{"button":[{"type":"click","name":"今日推荐","key":"TODAY"},{"name":"更多","sub_button":[{"type":"view","name":"官网","url":"https://example.com/"},{"type":"click","name":"联系我们","key":"CONTACT"}]},{"type":"click","name":"帮助","key":"HELP"}]}"#,
            "spring menu",
        ),
        (
            r#"{"button":[{"type":"click","name":"Help","key":"HELP"}]}"#,
            "minimal",
        ),
    ] {
        c.goto(&format!("{base}/menus")).await.unwrap();
        set_value(&c, "#menu-editor", menu).await;
        fill(&c, "#menu-note", note).await;
        click(&c, "#menu-publish").await;
        assert!(
            text_of(&c, "#notice")
                .await
                .contains("Published as version")
        );
    }
    assert_eq!(fake.calls(paths::MENU_CREATE), 2);
    click(&c, "#history tr:last-child button.rollback").await;
    let main = text_of(&c, "main").await;
    assert!(main.contains("Rolled back"), "{main}");
    assert!(text_of(&c, "#phone").await.contains("今日推荐"));
    assert!(fake.menu().unwrap().to_string().contains("TODAY"));
    shots.take(&c, "menus").await;
    click(&c, "#history a.button").await;
    assert!(text_of(&c, "#diff").await.contains("Help"));
    shots.take(&c, "menu-diff").await;

    // A QR code, with its image drawn by the console.
    c.goto(&format!("{base}/qrcodes")).await.unwrap();
    fill(&c, "#qr-scene", "promo42").await;
    fill(&c, "#qr-note", "spring poster").await;
    click(&c, "#qr-submit").await;
    assert!(text_of(&c, "#notice").await.contains("promo42"));
    let img = c.find(Locator::Css("#qr-list img.qr")).await.unwrap();
    let width = c
        .execute(
            "return arguments[0].complete ? arguments[0].naturalWidth : 0;",
            vec![serde_json::to_value(&img).unwrap()],
        )
        .await
        .unwrap();
    assert!(
        width.as_u64().unwrap_or(0) > 0,
        "the QR image loaded: {width}"
    );
    assert_eq!(fake.calls(paths::QRCODE_CREATE), 1);
    shots.take(&c, "qrcodes").await;

    for (path, name, expect) in [
        ("/token", "token", "of 2000"),
        ("/pushes", "pushes", "hello"),
        ("/audit", "audit", "menu_rollback"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let body = text_of(&c, "main").await;
        if name == "pushes" {
            // No content unless admin.show_content: the text is not there.
            assert!(!body.contains(expect), "{body}");
            assert!(body.contains("o_te…er"), "masked user: {body}");
        } else {
            assert!(body.contains(expect), "{path}: {body}");
        }
        shots.take(&c, name).await;
    }

    // Log out: the console is closed again.
    click(&c, "#logout").await;
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    c.goto(&format!("{base}/plugins")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    c.close().await.unwrap();
}
