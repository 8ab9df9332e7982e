//! QR codes against the fake WeChat API: creation and storage, scene
//! lookup, the permanent quota, rendering, and the CLI flags.

use std::sync::Arc;

use clap::Parser;
use serde_json::json;
use wxhost::api::qrcode::{QrCreate, QrKind, Scene};
use wxhost::api::{ApiError, ApiOptions, PluginApi, QrCodeRequest};
use wxhost::cli::qrcode::QrcodeCommand;
use wxhost::store::Stores;
use wxhost::store::{QrStore, now_secs};
use wxhost_tests::fake_wechat::{FakeWechat, fast_options, paths};

/// What the server hands plugins with a subscribe/SCAN event.
async fn by_scene(store: &dyn QrStore, scene: &str) -> Option<wxhost::api::QrCode> {
    store
        .by_scene_at(scene, now_secs())
        .await
        .unwrap()
        .map(|r| r.code)
}

fn create(scene: Scene, kind: QrKind, note: Option<&str>) -> QrCreate {
    QrCreate {
        scene,
        kind,
        note: note.map(str::to_owned),
    }
}

#[tokio::test]
async fn codes_are_created_stored_and_found_by_scene() {
    let fake = FakeWechat::start().await;
    let stores = Stores::in_memory().unwrap();
    let store = stores.qrcodes.clone();
    let w = fake.wechat(stores);

    let t = w
        .create_qrcode(&create(
            Scene::Id(42),
            QrKind::Temporary {
                expire_seconds: 3600,
            },
            Some("flyer"),
        ))
        .await
        .unwrap();
    let s = w
        .create_qrcode(&create(
            Scene::Str("shop-7".into()),
            QrKind::Temporary { expire_seconds: 60 },
            None,
        ))
        .await
        .unwrap();
    let p = w
        .create_qrcode(&create(Scene::Id(7), QrKind::Permanent, Some("door")))
        .await
        .unwrap();
    let bodies = fake.requests(paths::QRCODE_CREATE);
    assert_eq!(
        bodies[0],
        json!({"expire_seconds": 3600, "action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 42}}})
    );
    assert_eq!(bodies[1]["action_name"], "QR_STR_SCENE");
    assert_eq!(
        bodies[2],
        json!({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 7}}})
    );

    let exp = t.code.expires_at.unwrap() as i64;
    assert!(
        (exp - now_secs() - 3600).abs() <= 2,
        "expires_at from WeChat's expire_seconds"
    );
    assert!(t.code.ticket.contains('+') && t.code.url.starts_with("http://weixin.qq.com/q/"));
    assert_eq!((p.code.permanent, p.code.expires_at), (true, None));

    // What the server hands plugins with a subscribe/SCAN event.
    let found = by_scene(&*store, "42").await.unwrap();
    assert_eq!(
        (found.note.as_deref(), found.ticket.as_str()),
        (Some("flyer"), t.code.ticket.as_str())
    );
    assert_eq!(
        by_scene(&*store, "shop-7").await.unwrap().ticket,
        s.code.ticket
    );
    assert_eq!(
        by_scene(&**w.qrcodes(), "7").await.unwrap().note.as_deref(),
        Some("door")
    );
    assert_eq!(by_scene(&*store, "nope").await, None);
    // The newest unexpired code wins.
    let newer = w
        .create_qrcode(&create(
            Scene::Id(42),
            QrKind::Temporary { expire_seconds: 60 },
            Some("second"),
        ))
        .await
        .unwrap();
    assert_eq!(
        by_scene(&*store, "42").await.unwrap().ticket,
        newer.code.ticket
    );
    assert_eq!(
        store.by_scene_at("42", exp + 10).await.unwrap(),
        None,
        "all expired by then"
    );
}

#[tokio::test]
async fn the_permanent_quota_is_enforced_before_calling() {
    let fake = FakeWechat::start().await;
    let options = ApiOptions {
        permanent_qr_limit: 2,
        ..fast_options()
    };
    let w = fake.wechat_with(Stores::in_memory().unwrap(), options, "");
    w.create_qrcode(&create(Scene::Id(1), QrKind::Permanent, None))
        .await
        .unwrap();
    w.create_qrcode(&create(Scene::Str("b".into()), QrKind::Permanent, None))
        .await
        .unwrap();
    assert_eq!(fake.calls(paths::QRCODE_CREATE), 2);
    let e = w
        .create_qrcode(&create(Scene::Id(3), QrKind::Permanent, None))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ApiError::Invalid(m) if m.contains("quota reached: 2 of 2")),
        "{e}"
    );
    assert_eq!(
        fake.calls(paths::QRCODE_CREATE),
        2,
        "refused without calling WeChat"
    );
    // An existing permanent scene is returned as stored (no quota used).
    let again = w
        .create_qrcode(&create(Scene::Id(1), QrKind::Permanent, None))
        .await
        .unwrap();
    assert_eq!(again.id, 1);
    // Temporary codes are not limited.
    w.create_qrcode(&create(
        Scene::Id(3),
        QrKind::Temporary { expire_seconds: 60 },
        None,
    ))
    .await
    .unwrap();
    assert_eq!(fake.calls(paths::QRCODE_CREATE), 3);
    // WeChat's scene limits are checked locally.
    let e = w
        .create_qrcode(&create(Scene::Id(100_001), QrKind::Permanent, None))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("1..=100000"), "{e}");
    assert_eq!(fake.calls(paths::QRCODE_CREATE), 3);
}

#[tokio::test]
async fn plugins_create_codes_through_the_plugin_api() {
    let fake = FakeWechat::start().await;
    let api: Arc<dyn PluginApi> = Arc::new(fake.wechat(Stores::in_memory().unwrap()));
    let code = api
        .create_qr_code(QrCodeRequest {
            scene: "123".into(),
            expire_seconds: Some(600),
            note: Some("from plugin".into()),
        })
        .await
        .unwrap();
    assert_eq!((code.scene.as_str(), code.permanent), ("123", false));
    assert_eq!(
        fake.requests(paths::QRCODE_CREATE)[0]["action_info"]["scene"],
        json!({"scene_id": 123})
    );
    let code = api
        .create_qr_code(QrCodeRequest {
            scene: "promo".into(),
            expire_seconds: None,
            note: None,
        })
        .await
        .unwrap();
    assert!(code.permanent);
    assert_eq!(
        fake.requests(paths::QRCODE_CREATE)[1]["action_name"],
        "QR_LIMIT_STR_SCENE"
    );
}

/// The `qrcode` subcommand as `main` parses it.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: QrcodeCommand,
}

fn parse(args: &str) -> Result<QrcodeCommand, clap::Error> {
    Cli::try_parse_from(std::iter::once("qrcode").chain(args.split_whitespace())).map(|c| c.command)
}

#[tokio::test]
async fn the_cli_creates_lists_shows_and_renders() {
    let fake = FakeWechat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake.config(dir.path());
    let run = |args: String| {
        let config = config.clone();
        async move {
            let mut out = Vec::new();
            parse(&args).unwrap().run(&config, &mut out).await.unwrap();
            String::from_utf8(out).unwrap()
        }
    };
    let png = dir.path().join("code.png");
    let svg = dir.path().join("code.svg");
    let out = run(format!(
        "create --temporary --expire-seconds 600 --scene-id 5 --note hello --png {}",
        png.display()
    ))
    .await;
    assert!(
        out.contains("scene:     5")
            && out.contains("note:      hello")
            && out.contains("temporary, expires"),
        "{out}"
    );
    assert!(
        out.contains("image:     https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH")
            && out.contains("%2Bfake%2Fticket%3D%3D"),
        "{out}"
    );
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let out = run("create --permanent --scene-str door-1".into()).await;
    assert!(out.contains("kind:      permanent"), "{out}");
    assert_eq!(
        fake.requests(paths::QRCODE_CREATE)[1]["action_name"],
        "QR_LIMIT_STR_SCENE"
    );
    run("create --temporary --scene-str t".into()).await;
    assert_eq!(
        fake.requests(paths::QRCODE_CREATE)[2]["expire_seconds"],
        604_800,
        "7 days by default"
    );

    let list = run("list".into()).await;
    assert!(
        list.contains("#3")
            && list.contains("door-1")
            && list.contains("permanent codes: 1 of 100000"),
        "{list}"
    );
    let show = run(format!("show door-1 --svg {}", svg.display())).await;
    assert!(show.contains("id:        2"), "{show}");
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    assert!(run("show #1".into()).await.contains("scene:     5"));
    let mut out = Vec::new();
    let e = parse("show missing")
        .unwrap()
        .run(&config, &mut out)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no stored QR code"), "{e}");
}

#[test]
fn the_cli_flags_are_the_issues() {
    assert!(parse("create --temporary --expire-seconds 60 --scene-id 1 --note x").is_ok());
    assert!(parse("create --permanent --scene-str s").is_ok());
    assert!(
        parse("create --temporary --permanent --scene-id 1").is_err(),
        "one kind"
    );
    assert!(parse("create --temporary").is_err(), "a scene is required");
    assert!(parse("create --scene-id 1").is_err(), "a kind is required");
    assert!(
        parse("create --permanent --expire-seconds 60 --scene-id 1").is_err(),
        "expiry only for temporary codes"
    );
    assert!(
        parse("create --permanent --scene-id 1 --scene-str s").is_err(),
        "one scene"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_creators_at_the_last_permanent_slot_make_one_call() {
    let fake = FakeWechat::start().await;
    let options = ApiOptions {
        permanent_qr_limit: 2,
        ..fast_options()
    };
    let w = Arc::new(fake.wechat_with(Stores::in_memory().unwrap(), options, ""));
    w.create_qrcode(&create(Scene::Id(1), QrKind::Permanent, None))
        .await
        .unwrap();
    // Both creators are in flight together: the first one's call is slow.
    fake.set_latency(paths::QRCODE_CREATE, std::time::Duration::from_millis(300));
    let creators: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|scene| {
            let w = w.clone();
            tokio::spawn(async move {
                w.create_qrcode(&create(Scene::Str(scene.into()), QrKind::Permanent, None))
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for c in creators {
        results.push(c.await.unwrap());
    }
    let (ok, refused): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!((ok.len(), refused.len()), (1, 1), "{ok:?} {refused:?}");
    let e = refused[0].as_ref().unwrap_err();
    assert!(
        matches!(e, ApiError::Invalid(m) if m.contains("quota reached: 2 of 2")),
        "{e}"
    );
    assert_eq!(
        fake.calls(paths::QRCODE_CREATE),
        2,
        "the refused creator never called WeChat"
    );
    assert_eq!(w.qrcodes().permanent_count().await.unwrap(), 2);
}

#[tokio::test]
async fn a_failed_permanent_create_gives_its_slot_back() {
    let fake = FakeWechat::start().await;
    let options = ApiOptions {
        permanent_qr_limit: 1,
        ..fast_options()
    };
    let w = fake.wechat_with(Stores::in_memory().unwrap(), options, "");
    fake.fail_next(paths::QRCODE_CREATE, 45009, 1);
    let e = w
        .create_qrcode(&create(Scene::Id(9), QrKind::Permanent, None))
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::QuotaExceeded(_)), "{e}");
    assert_eq!(w.qrcodes().permanent_count().await.unwrap(), 0);
    // The one slot is free again: another scene gets it.
    let code = w
        .create_qrcode(&create(Scene::Id(10), QrKind::Permanent, None))
        .await
        .unwrap();
    assert_eq!(
        (code.code.scene.as_str(), code.code.permanent),
        ("10", true)
    );
    assert_eq!(fake.calls(paths::QRCODE_CREATE), 2);
}
