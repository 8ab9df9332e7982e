//! The plugin author's loop with the real binary: `plugin new` for each
//! language, then `plugin build` on the generated project itself (not a
//! copy), then the result answering through `plugin run` and the real
//! service; `plugin build` naming a missing toolchain; and `plugin check`
//! validating as the loader does.

use std::path::Path;
use std::process::Output;

use wxhost::protocol::{self, Mode, Push, Reply};
use wxhost_tests::service::{Wxhost, cli, wasm};

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

/// `plugin new` → `plugin build` → `plugin run` and a push through the
/// service, for one language.
async fn new_build_and_serve(lang: &str) {
    let work = tempfile::tempdir().unwrap();
    let name = format!("hello-{lang}");
    let dir = work.path().join("projects").join(&name);
    let dir_s = dir.to_str().unwrap();
    let o = run(
        work.path(),
        &["plugin", "new", &name, "--lang", lang, "--dir", dir_s],
    );
    assert!(o.status.success(), "{}", show(&o));
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert_eq!(readme.lines().count(), 3, "{readme}");
    for step in ["Build:", "Try:", "Deploy:"] {
        assert!(readme.contains(step), "{readme}");
    }

    // Built where it is, from inside the project as the README says.
    let o = run(&dir, &["plugin", "build"]);
    assert!(o.status.success(), "{}", show(&o));
    let wasm_file = dir.join(format!("{name}.wasm"));
    assert!(wasm_file.is_file(), "{}", show(&o));

    let o = run(
        work.path(),
        &[
            "plugin",
            "run",
            wasm_file.to_str().unwrap(),
            "--text",
            "echo me 你好",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        out.contains("reply    text \"echo me 你好\""),
        "{}",
        show(&o)
    );

    let host = Wxhost::start_files(&[(name.clone(), wasm_file)], "", &[], true).await;
    let body = host.push(&Push::Text("served".into()), Mode::Safe, 1).await;
    match protocol::parse_reply(&body).unwrap().reply {
        Reply::Text(t) => assert_eq!(t, "served"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_new_rust_project_builds_into_a_plugin_that_echoes() {
    new_build_and_serve("rust").await;
}

#[tokio::test]
async fn a_new_javascript_project_builds_into_a_plugin_that_echoes() {
    new_build_and_serve("js").await;
}

#[tokio::test]
async fn a_new_python_project_builds_into_a_plugin_that_echoes() {
    new_build_and_serve("python").await;
}

#[test]
fn plugin_new_refuses_a_bad_name_and_a_non_empty_directory() {
    let work = tempfile::tempdir().unwrap();
    let o = run(work.path(), &["plugin", "new", "bad name", "--lang", "js"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("plugin id"),
        "{}",
        show(&o)
    );
    std::fs::create_dir(work.path().join("taken")).unwrap();
    std::fs::write(work.path().join("taken/x"), "").unwrap();
    let o = run(work.path(), &["plugin", "new", "taken", "--lang", "python"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not empty"),
        "{}",
        show(&o)
    );
}

#[test]
fn plugin_build_names_what_to_install_when_a_toolchain_is_missing() {
    let work = tempfile::tempdir().unwrap();
    let nothing = tempfile::tempdir().unwrap(); // a PATH with no tools on it
    for (lang, install) in [
        ("js", "apt-get install nodejs npm"),
        ("python", "apt-get install python3 python3-venv"),
        ("rust", "rustup target add wasm32-wasip2"),
    ] {
        let dir = work.path().join(lang);
        let o = run(
            work.path(),
            &[
                "plugin",
                "new",
                "p",
                "--lang",
                lang,
                "--dir",
                dir.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", show(&o));
        let o = cli(&dir)
            .args(["plugin", "build"])
            .env("PATH", nothing.path())
            .output()
            .unwrap();
        assert!(!o.status.success(), "{lang}: {}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(install), "{lang}: {}", show(&o));
        assert!(!dir.join("p.wasm").exists());
    }
    // Not a project at all.
    let o = run(
        work.path(),
        &["plugin", "build", work.path().to_str().unwrap()],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not a plugin project"),
        "{}",
        show(&o)
    );
}

#[test]
fn plugin_check_refuses_a_wrong_wit_version_and_prints_what_a_good_component_declares() {
    let work = tempfile::tempdir().unwrap();
    let o = run(
        work.path(),
        &["plugin", "check", wasm("fault_wit_v2").to_str().unwrap()],
    );
    assert!(!o.status.success(), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("built against wechat:plugin@2.0.0")
            && err.contains("this host supports wechat:plugin@0.2.x and @1.0.x to @1.1.x"),
        "{}",
        show(&o)
    );

    let o = run(
        work.path(),
        &["plugin", "check", wasm("echo-js").to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "loads as plugin echo-js",
        "plugin   echo-js 0.1.0 (priority 0, handles [text])",
        "exports  wechat:plugin/handler@1.1.0",
        "wit      wechat:plugin@1.1",
        "wechat:plugin/wechat@1.1.0",
        "needs its capability granted",
    ] {
        assert!(out.contains(want), "missing {want:?}: {}", show(&o));
    }
    // Not a component: refused as the loader refuses it.
    let junk = work.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").unwrap();
    let o = run(work.path(), &["plugin", "check", junk.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a valid WebAssembly component"),
        "{}",
        show(&o)
    );
}
