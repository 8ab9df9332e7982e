//! Plugins built for WIT 0.2 keep running on a 1.x host, through the real
//! service: the committed components in `tests/fixtures/wit-0.2/` (built
//! at the last 0.2 commit, never rebuilt) answer a text, greet a follower
//! with its QR scene, serve a page behind the OAuth login, and answer from
//! JavaScript. Today's SDK still builds the unmodified 0.2-era `welcome`
//! source, into a 1.0 component; `plugin check` names each one's version.

use std::path::{Path, PathBuf};
use std::process::Output;

use wxhost::protocol::{self, Mode, Push, Reply};
use wxhost_tests::browser::Browser;
use wxhost_tests::fake_wechat::{FakeWechat, OAUTH_OPENID};
use wxhost_tests::service::{Wxhost, cli};

fn fixtures() -> PathBuf {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    Path::new(&manifest_dir).join("fixtures/wit-0.2")
}

/// A committed 0.2 component, installed under its own id.
fn v0_2(name: &str) -> (String, PathBuf) {
    (name.to_owned(), fixtures().join(format!("{name}.wasm")))
}

fn text_of(xml: &str) -> String {
    match protocol::parse_reply(xml)
        .unwrap_or_else(|e| panic!("not a reply ({e}): {xml}"))
        .reply
    {
        Reply::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    cli(cwd).args(args).output().expect("run wxhost")
}

fn show(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn wit_0_2_echo_and_welcome_answer_text_and_a_follow_with_its_scene() {
    let host = Wxhost::start_files(&[v0_2("echo"), v0_2("welcome")], "", &[], true).await;
    let body = host
        .push(&Push::Text("你好 from 0.2".into()), Mode::Safe, 1)
        .await;
    assert_eq!(text_of(&body), "你好 from 0.2", "{}", host.log());
    for _ in 0..2 {
        let body = host
            .push(
                &Push::Subscribe {
                    scene: Some("spring".into()),
                },
                Mode::Safe,
                0,
            )
            .await;
        assert_eq!(text_of(&body), "Welcome! You came from scene spring.");
    }
    let plain = host
        .push(&Push::Subscribe { scene: None }, Mode::Safe, 0)
        .await;
    assert_eq!(text_of(&plain), "Welcome!");
    let log = host.log();
    assert!(log.contains("plugin welcome loaded"), "{log}");
}

#[tokio::test]
async fn wit_0_2_member_serves_its_page_behind_the_login_and_shares_kv_with_the_chat() {
    let fake = FakeWechat::start().await;
    let host = Wxhost::start_files_against(&fake, &[v0_2("member")], "", &[]).await;
    let origin = host.origin();
    let browser = Browser::new();

    let page = browser.get(&format!("{origin}/app/member/")).await;
    assert_eq!(page.status, 302, "{}", host.log());
    assert_eq!(
        page.location(),
        Some("/oauth/login?next=%2Fapp%2Fmember%2F&scope=base")
    );
    let pages = browser
        .follow(&origin, &format!("{origin}/app/member/"))
        .await;
    let last = pages.last().unwrap();
    assert_eq!(last.status, 200, "{pages:#?}\n{}", host.log());
    assert!(
        last.body
            .contains(&format!("<code id=\"openid\">{OAUTH_OPENID}</code>")),
        "{}",
        last.body
    );
    assert!(last.body.contains("<strong id=\"balance\">0</strong>"));

    let now = wxhost::unix_now();
    let xml = Push::Text("checkin".into()).to_xml("gh_test", OAUTH_OPENID, now, 77);
    let (status, body) = host.post_xml(&xml, Mode::Safe).await;
    assert_eq!(status, 200);
    assert!(text_of(&host.open(&body, Mode::Safe)).contains("+10"));
    let page = browser.get(&format!("{origin}/app/member/")).await;
    assert!(
        page.body.contains("<strong id=\"balance\">10</strong>"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn wit_0_2_echo_js_answers_in_safe_mode() {
    let host = Wxhost::start_files(&[v0_2("echo-js")], "", &[], true).await;
    for (i, t) in ["你好, JavaScript 0.2", "a <b> & ]]> c"].iter().enumerate() {
        let body = host
            .push(&Push::Text((*t).into()), Mode::Safe, 10 + i as u64)
            .await;
        assert_eq!(text_of(&body), *t, "{}", host.log());
    }
}

#[test]
fn plugin_check_names_the_wit_version_and_whether_this_host_runs_it() {
    let work = tempfile::tempdir().unwrap();
    let (_, old) = v0_2("echo");
    let o = run(work.path(), &["plugin", "check", old.to_str().unwrap()]);
    assert!(o.status.success(), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "wit      wechat:plugin@0.2 (this host runs it through its 0.2 conversions",
        "exports  wechat:plugin/handler@0.2.0",
        "handles [text]",
        "grants   no capabilities granted",
    ] {
        assert!(out.contains(want), "missing {want:?}: {}", show(&o));
    }
    let new = wxhost_tests::service::wasm("fixture");
    let o = run(work.path(), &["plugin", "check", new.to_str().unwrap()]);
    assert!(o.status.success(), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "wit      wechat:plugin@1.1 (current",
        "exports  wechat:plugin/handler@1.1.0",
        "event-template-send-job-finish",
    ] {
        assert!(out.contains(want), "missing {want:?}: {}", show(&o));
    }
}

/// The SDK stays source compatible: `plugins/welcome` as it was at 0.2
/// (`tests/fixtures/wit-0.2/welcome-src/src/lib.rs`, unmodified) builds in
/// a `plugin new` project against today's SDK into a 1.0 component that
/// behaves as the 0.2 one did.
#[tokio::test]
async fn the_unmodified_0_2_welcome_source_builds_into_a_1_0_component() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("welcome");
    let o = run(
        work.path(),
        &[
            "plugin",
            "new",
            "welcome",
            "--lang",
            "rust",
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    std::fs::copy(
        fixtures().join("welcome-src/src/lib.rs"),
        dir.join("src/lib.rs"),
    )
    .unwrap();
    let o = run(&dir, &["plugin", "build"]);
    assert!(o.status.success(), "{}", show(&o));
    let built = dir.join("welcome.wasm");
    let o = run(work.path(), &["plugin", "check", built.to_str().unwrap()]);
    assert!(o.status.success(), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "wit      wechat:plugin@1.1",
        "handles [event-subscribe, event-scan]",
    ] {
        assert!(out.contains(want), "missing {want:?}: {}", show(&o));
    }

    let host = Wxhost::start_files(&[("welcome".into(), built)], "", &[], true).await;
    let body = host
        .push(
            &Push::Subscribe {
                scene: Some("autumn".into()),
            },
            Mode::Safe,
            0,
        )
        .await;
    assert_eq!(text_of(&body), "Welcome! You came from scene autumn.");
}
