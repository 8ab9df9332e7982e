//! Menus against the fake WeChat API: validation before any call, versioned
//! publishing, history, rollback, delete, conditional menus, and the CLI.

use serde_json::json;
use wxhost::api::menu::Menu;
use wxhost::api::{ApiError, Wechat};
use wxhost::cli::menu::MenuCommand;
use wxhost::store::Stores;
use wxhost_tests::fake_wechat::{FakeWechat, paths};

fn setup(fake: &FakeWechat) -> Wechat {
    fake.wechat(Stores::in_memory().unwrap())
}

const V1: &str = r#"{"button":[{"type":"click","name":"今日歌曲","key":"TODAY"},{"name":"菜单","sub_button":[{"type":"view","name":"搜索","url":"https://example.com/s?a=1&b=2"}]}]}"#;
const V2_TOML: &str = r#"
[[button]]
type = "click"
name = "Hello"
key = "HELLO"
"#;

#[tokio::test]
async fn invalid_menus_are_refused_naming_the_button_without_any_call() {
    let fake = FakeWechat::start().await;
    let w = setup(&fake);
    let bad = Menu::from_json(r#"{"button":[{"type":"click","name":"A","key":"k"},{"name":"More","sub_button":[{"type":"view","name":"Contact"}]}]}"#).unwrap();
    let e = w.publish_menu(&bad, None).await.unwrap_err();
    assert!(
        matches!(&e, ApiError::Invalid(m) if m.contains(r#"button[1].sub_button[0] "Contact": type view needs `url`"#)),
        "{e}"
    );
    let long =
        Menu::from_json(r#"{"button":[{"type":"click","name":"这个名字太长了","key":"k"}]}"#)
            .unwrap();
    let e = w.publish_menu(&long, None).await.unwrap_err().to_string();
    assert!(
        e.contains(r#"button[0] "这个名字太长了": name is 21 bytes, at most 16"#),
        "{e}"
    );
    assert_eq!(fake.total_calls(), 0, "no token fetch, no menu call");
    assert!(w.menus().history().await.unwrap().is_empty());

    // The CLI too, from a file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, r#"{"button":[{"type":"click","name":"A"}]}"#).unwrap();
    let config = fake.config(dir.path());
    let e = MenuCommand::Publish { file, note: None }
        .run(&config, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        format!("{e:#}").contains(r#"button[0] "A": type click needs `key`"#),
        "{e:#}"
    );
    assert_eq!(fake.total_calls(), 0);
}

#[tokio::test]
async fn publish_history_rollback_and_delete() {
    let fake = FakeWechat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = fake.config(dir.path());
    let (v1, v2) = (dir.path().join("v1.json"), dir.path().join("v2.toml"));
    std::fs::write(&v1, V1).unwrap();
    std::fs::write(&v2, V2_TOML).unwrap();
    let run = |cmd| {
        let config = config.clone();
        async move {
            let mut out = Vec::new();
            MenuCommand::run(cmd, &config, &mut out).await.unwrap();
            String::from_utf8(out).unwrap()
        }
    };

    assert!(
        run(MenuCommand::Publish {
            file: v1.clone(),
            note: Some("launch".into())
        })
        .await
        .contains("published menu version 1")
    );
    // Sent unescaped (the fake answers 40033 to \u escapes).
    assert_eq!(
        fake.menu().unwrap(),
        serde_json::from_str::<serde_json::Value>(V1).unwrap()["button"]
    );
    assert!(
        run(MenuCommand::Publish {
            file: v2.clone(),
            note: Some("simpler".into())
        })
        .await
        .contains("version 2")
    );
    assert_eq!(
        fake.menu().unwrap(),
        json!([{"type": "click", "name": "Hello", "key": "HELLO"}])
    );

    let history = run(MenuCommand::History).await;
    let lines: Vec<&str> = history.lines().collect();
    assert!(
        lines[0].starts_with("*    2") && lines[0].contains("simpler"),
        "{history}"
    );
    assert!(
        lines[1].starts_with("     1") && lines[1].contains("launch"),
        "{history}"
    );

    assert!(
        run(MenuCommand::Rollback { version: 1 })
            .await
            .contains("version 1 is published and current")
    );
    assert_eq!(fake.menu().unwrap()[0]["name"], "今日歌曲");
    let show = run(MenuCommand::Show {
        version: None,
        remote: false,
    })
    .await;
    assert!(
        show.starts_with("version 1 (current): launch") && show.contains("a=1&b=2"),
        "{show}"
    );
    let remote = run(MenuCommand::Show {
        version: None,
        remote: true,
    })
    .await;
    assert!(remote.contains("今日歌曲"), "{remote}");
    assert_eq!(fake.calls(paths::MENU_CREATE), 3);

    run(MenuCommand::Delete).await;
    assert_eq!(fake.menu(), None);
    assert!(
        run(MenuCommand::Show {
            version: None,
            remote: false
        })
        .await
        .contains("no current menu version")
    );
    assert!(
        run(MenuCommand::Show {
            version: None,
            remote: true
        })
        .await
        .contains("no menu")
    );
    assert_eq!(
        run(MenuCommand::History).await.lines().count(),
        2,
        "history survives a delete"
    );
    // Only one token fetch across all these CLI invocations.
    assert_eq!(fake.token_fetches(), 1);
}

#[tokio::test]
async fn conditional_menus_are_replaced_on_publish() {
    let fake = FakeWechat::start().await;
    let w = setup(&fake);
    let with_rule = |tag: &str| {
        Menu::from_json(&format!(
            r#"{{"button":[{{"type":"click","name":"All","key":"ALL"}}],"conditionalmenu":[{{"button":[{{"type":"view","name":"VIP","url":"https://vip.example.com/?x=1&y=2"}}],"matchrule":{{"tag_id":"{tag}"}}}}]}}"#
        ))
        .unwrap()
    };
    let v1 = w.publish_menu(&with_rule("100"), None).await.unwrap();
    assert_eq!(v1.conditional_menu_ids.len(), 1);
    let v2 = w.publish_menu(&with_rule("200"), None).await.unwrap();
    let live = fake.conditional_menus();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0]["matchrule"], json!({"tag_id": "200"}));
    assert_eq!(
        live[0]["menuid"].as_str(),
        v2.conditional_menu_ids.first().map(String::as_str)
    );
    assert_eq!(fake.calls(paths::MENU_DEL_CONDITIONAL), 1);

    // A menu without conditional menus removes the old ones.
    w.publish_menu(&Menu::from_toml(V2_TOML).unwrap(), None)
        .await
        .unwrap();
    assert!(fake.conditional_menus().is_empty());
}

#[tokio::test]
async fn a_failed_push_keeps_the_version_unpublished() {
    let fake = FakeWechat::start().await;
    let w = setup(&fake);
    fake.fail_next(paths::MENU_CREATE, 40164, 1);
    let e = w
        .publish_menu(&Menu::from_json(V1).unwrap(), Some("try"))
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::Wechat { code: 40164, .. }), "{e}");
    let history = w.menus().history().await.unwrap();
    assert_eq!(
        (history.len(), history[0].published_at, history[0].current),
        (1, None, false)
    );
    assert_eq!(w.menus().current().await.unwrap(), None);
    // It can still be published later by rolling back to it.
    w.rollback_menu(history[0].id).await.unwrap();
    assert!(w.menus().current().await.unwrap().is_some());
}

/// A default menu and `tags.len()` conditional menus, one per tag.
fn with_conditionals(name: &str, tags: &[&str]) -> Menu {
    let conditional: Vec<String> = tags
        .iter()
        .map(|t| format!(r#"{{"button":[{{"type":"click","name":"T{t}","key":"K{t}"}}],"matchrule":{{"tag_id":"{t}"}}}}"#))
        .collect();
    Menu::from_json(&format!(
        r#"{{"button":[{{"type":"click","name":"{name}","key":"{name}"}}],"conditionalmenu":[{}]}}"#,
        conditional.join(",")
    ))
    .unwrap()
}

fn live_ids(fake: &FakeWechat) -> Vec<String> {
    fake.conditional_menus()
        .iter()
        .map(|c| c["menuid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_publish_failing_at_any_step_records_what_is_live() {
    for step in [
        paths::MENU_CREATE,
        paths::MENU_GET,
        paths::MENU_DEL_CONDITIONAL,
        paths::MENU_ADD_CONDITIONAL,
    ] {
        let fake = FakeWechat::start().await;
        let dir = tempfile::tempdir().unwrap();
        let config = fake.config(dir.path());
        let w = fake.wechat(Stores::sqlite(&config.storage.data_dir).unwrap());
        let v1 = w
            .publish_menu(&with_conditionals("One", &["100"]), Some("v1"))
            .await
            .unwrap();

        fake.fail_next(step, 48001, 1);
        let e = w
            .publish_menu(&with_conditionals("Two", &["200", "300"]), Some("v2"))
            .await
            .unwrap_err();
        assert!(
            matches!(e, ApiError::Wechat { code: 48001, .. }),
            "{step}: {e}"
        );
        let current = w.menus().current().await.unwrap().unwrap();
        let v2 = w.menus().history().await.unwrap()[0].clone();
        let show = {
            let mut out = Vec::new();
            MenuCommand::Show {
                version: None,
                remote: false,
            }
            .run(&config, &mut out)
            .await
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        let history = {
            let mut out = Vec::new();
            MenuCommand::History.run(&config, &mut out).await.unwrap();
            String::from_utf8(out).unwrap()
        };

        if step == paths::MENU_CREATE {
            // WeChat changed nothing: the previous version is still live.
            assert!(!e.to_string().contains("partly"), "{e}");
            assert_eq!(fake.menu().unwrap()[0]["name"], "One");
            assert_eq!(current.id, v1.id, "{step}");
            assert_eq!((v2.current, v2.partial.clone()), (false, None));
            assert!(history.contains("not published (push failed)"), "{history}");
            continue;
        }
        // WeChat took the new default menu: the store says so, and what
        // else is live.
        assert_eq!(fake.menu().unwrap()[0]["name"], "Two", "{step}");
        let message = e.to_string();
        assert!(
            message.contains(&format!(
                "stopped at {}",
                step.trim_start_matches("/cgi-bin/")
            )) && message.contains("partly live"),
            "{message}"
        );
        assert_eq!(
            current.id, v2.id,
            "{step}: the version whose default menu is live"
        );
        let partial = current.partial.clone().expect("marked partial");
        assert!(message.contains(&partial), "{message}");
        assert_eq!(current.conditional_menu_ids, live_ids(&fake), "{step}");
        assert!(
            show.contains("partly live") && show.contains(&partial),
            "{show}"
        );
        let line = history.lines().next().unwrap();
        assert!(
            line.starts_with("*") && line.contains("PARTLY"),
            "{history}"
        );

        // Publishing it again completes it.
        let again = w.rollback_menu(v2.id).await.unwrap();
        assert_eq!(again.partial, None);
        assert_eq!(again.conditional_menu_ids, live_ids(&fake));
        assert_eq!(fake.conditional_menus().len(), 2, "{step}");
    }
}
