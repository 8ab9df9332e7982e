//! Hot reload of a plugins directory: add, replace (in-flight versions keep
//! working), remove, broken overwrite, half-written and slowly copied files,
//! refused WIT versions, and the compiled-artifact cache across restarts.
//! Polls with generous timeouts; no timing assertions.

mod plugin_support;

use std::io::Write;
use std::time::Duration;

use plugin_support::*;
use wxhost::plugin::{HandlerInput, PluginOutcome, ReloadEvent};
use wxhost::protocol::Reply;

async fn answer(e: &Env, id: &str, s: &str) -> Option<PluginOutcome> {
    let p = e.rt.get(id)?;
    Some(
        p.call(&HandlerInput::new(&text(s)), deadline())
            .await
            .unwrap(),
    )
}

fn is(ev: &ReloadEvent, want: &str, id: &str) -> bool {
    match ev {
        ReloadEvent::Loaded { id: i, .. } => want == "loaded" && i == id,
        ReloadEvent::Replaced { id: i, .. } => want == "replaced" && i == id,
        ReloadEvent::Removed { id: i } => want == "removed" && i == id,
        ReloadEvent::Failed { id: i, .. } => want == "failed" && i == id,
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn add_replace_remove() {
    let e = env(Default::default());
    e.rt.load_all().await.unwrap();
    e.rt.watch().unwrap();
    let mut rx = e.rt.subscribe();

    // add
    e.install("echo", "p");
    wait_for(&mut rx, |ev| is(ev, "loaded", "p")).await;
    assert_eq!(
        answer(&e, "p", "one").await,
        Some(PluginOutcome::Reply(Reply::Text("one".into())))
    );
    let old = e.rt.get("p").unwrap();

    // replace in place (cp over the file): keyword has no rules → passes
    e.install("keyword", "p");
    wait_for(&mut rx, |ev| is(ev, "replaced", "p")).await;
    let new = e.rt.get("p").unwrap();
    assert_eq!(new.info.name, "keyword");
    assert_ne!(new.sha256(), old.sha256());
    assert_eq!(answer(&e, "p", "one").await, Some(PluginOutcome::Pass));
    // A caller still holding the old version (an in-flight call) keeps it.
    assert_eq!(
        old.call(&HandlerInput::new(&text("two")), deadline())
            .await
            .unwrap(),
        PluginOutcome::Reply(Reply::Text("two".into()))
    );

    // remove
    std::fs::remove_file(e.plugins_dir().join("p.wasm")).unwrap();
    wait_for(&mut rx, |ev| is(ev, "removed", "p")).await;
    assert!(e.rt.get("p").is_none());
    assert!(e.rt.plugins().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_overwrite_keeps_the_working_version() {
    let e = env(Default::default());
    e.install("echo", "b");
    e.rt.load_all().await.unwrap();
    let good = e.rt.get("b").unwrap().sha256().to_owned();
    e.rt.watch().unwrap();
    let mut rx = e.rt.subscribe();

    std::fs::write(e.plugins_dir().join("b.wasm"), b"\0asm garbage").unwrap();
    let seen = wait_for(&mut rx, |ev| is(ev, "failed", "b")).await;
    match seen.last().unwrap() {
        ReloadEvent::Failed { error, .. } => assert!(
            error.contains("not a valid WebAssembly component"),
            "{error}"
        ),
        _ => unreachable!(),
    }
    assert_eq!(e.rt.get("b").unwrap().sha256(), good);
    assert_eq!(
        answer(&e, "b", "ok").await,
        Some(PluginOutcome::Reply(Reply::Text("ok".into())))
    );

    // A component for another WIT major never replaces it either.
    e.install("fault_wit_v2", "b");
    let seen = wait_for(&mut rx, |ev| is(ev, "failed", "b")).await;
    match seen.last().unwrap() {
        ReloadEvent::Failed { error, .. } => {
            assert!(error.contains("wechat:plugin@2.0.0"), "{error}")
        }
        _ => unreachable!(),
    }
    assert_eq!(e.rt.get("b").unwrap().sha256(), good);

    // Fixing the file brings it back (same content: nothing to reload).
    e.install("echo", "b");
    wait_for(
        &mut rx,
        |ev| matches!(ev, ReloadEvent::Unchanged { id } if id == "b"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slowly_copied_file_is_loaded_once_complete() {
    let e = env(Default::default());
    e.rt.watch().unwrap();
    let mut rx = e.rt.subscribe();
    let bytes = std::fs::read(wasm("echo")).unwrap();
    let path = e.plugins_dir().join("slow.wasm");
    let mut f = std::fs::File::create(&path).unwrap();
    // A copy in 8 chunks, 40 ms apart: writes keep the debounce from firing.
    for chunk in bytes.chunks(bytes.len().div_ceil(8)) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    drop(f);
    let seen = wait_for(&mut rx, |ev| is(ev, "loaded", "slow")).await;
    assert!(!seen.iter().any(|ev| is(ev, "failed", "slow")), "{seen:?}");
    assert_eq!(
        answer(&e, "slow", "s").await,
        Some(PluginOutcome::Reply(Reply::Text("s".into())))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn half_written_file_is_never_served() {
    let e = env(Default::default());
    e.rt.watch().unwrap();
    let mut rx = e.rt.subscribe();
    let bytes = std::fs::read(wasm("echo")).unwrap();
    let path = e.plugins_dir().join("half.wasm");
    // The copy stalls halfway for longer than the debounce: the partial file
    // is looked at, fails to compile, and is not served.
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    wait_for(&mut rx, |ev| is(ev, "failed", "half")).await;
    assert!(e.rt.get("half").is_none());
    // The copy completes: now it loads.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&bytes[bytes.len() / 2..]).unwrap();
    drop(f);
    wait_for(&mut rx, |ev| is(ev, "loaded", "half")).await;
    assert_eq!(
        answer(&e, "half", "h").await,
        Some(PluginOutcome::Reply(Reply::Text("h".into())))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn temp_and_hidden_files_are_ignored_and_rename_loads() {
    let e = env(Default::default());
    e.rt.watch().unwrap();
    let mut rx = e.rt.subscribe();
    let dir = e.plugins_dir();
    std::fs::copy(wasm("echo"), dir.join(".r.wasm")).unwrap();
    std::fs::copy(wasm("echo"), dir.join("r.wasm.tmp")).unwrap();
    std::fs::rename(dir.join("r.wasm.tmp"), dir.join("r.wasm")).unwrap();
    let seen = wait_for(&mut rx, |ev| is(ev, "loaded", "r")).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(e.rt.plugins().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_uses_the_compiled_artifact_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let e = env_with(dir, cache.clone(), Default::default());
    e.install("echo", "echo");
    e.rt.load_all().await.unwrap();
    assert!(!e.rt.get("echo").unwrap().from_cache());
    let artifacts: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let sha = e.rt.get("echo").unwrap().sha256().to_owned();
    assert!(
        artifacts
            .iter()
            .any(|a| a.starts_with(&sha) && a.ends_with(".cwasm")),
        "{artifacts:?}"
    );

    // "Restart": a new runtime (new engine) over the same dirs.
    let cfg = e.rt.config().clone();
    drop(e.rt);
    let rt2 = wxhost::plugin::Runtime::new(
        cfg,
        wxhost::plugin::HostServices {
            kv: e.kv.clone(),
            wechat: None,
            jssdk: None,
            outbound: Default::default(),
        },
    )
    .unwrap();
    rt2.load_all().await.unwrap();
    let p = rt2.get("echo").unwrap();
    assert!(p.from_cache());
    assert_eq!(
        p.call(&HandlerInput::new(&text("c")), deadline())
            .await
            .unwrap(),
        PluginOutcome::Reply(Reply::Text("c".into()))
    );
}

/// A runtime like `e`'s over `dir`, with its own event and rescan settings.
fn runtime_over(
    e: &Env,
    dir: std::path::PathBuf,
    watch: bool,
    rescan: Option<Duration>,
) -> std::sync::Arc<wxhost::plugin::Runtime> {
    let mut cfg = e.rt.config().clone();
    cfg.dir = dir;
    cfg.watch = watch;
    cfg.rescan_interval = rescan;
    wxhost::plugin::Runtime::new(
        cfg,
        wxhost::plugin::HostServices {
            kv: e.kv.clone(),
            wechat: None,
            jssdk: None,
            outbound: Default::default(),
        },
    )
    .unwrap()
}

/// Collects events until every `(what, id)` in `want` has been seen.
async fn wait_for_all(
    rx: &mut tokio::sync::broadcast::Receiver<ReloadEvent>,
    want: &[(&str, &str)],
) -> Vec<ReloadEvent> {
    let mut seen = Vec::new();
    while !want
        .iter()
        .all(|(w, id)| seen.iter().any(|ev| is(ev, w, id)))
    {
        let more = wait_for(rx, |ev| want.iter().any(|(w, id)| is(ev, w, id))).await;
        seen.extend(more);
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugins_dir_swapped_by_symlink_is_followed() {
    let e = env(Default::default());
    let root = e.dir.path();
    let (v1, v2) = (root.join("releases/v1"), root.join("releases/v2"));
    for d in [&v1, &v2] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::copy(wasm("echo"), v1.join("p.wasm")).unwrap();
    std::fs::copy(wasm("echo"), v1.join("k.wasm")).unwrap();
    std::fs::copy(wasm("keyword"), v2.join("p.wasm")).unwrap();
    std::fs::copy(wasm("echo"), v2.join("n.wasm")).unwrap();
    let link = root.join("plugins.d");
    std::os::unix::fs::symlink(&v1, &link).unwrap();
    // Events only (no periodic rescan): the swap itself must be noticed.
    let rt = runtime_over(&e, link.clone(), true, None);
    rt.load_all().await.unwrap();
    rt.watch().unwrap();
    let mut rx = rt.subscribe();
    assert_eq!(rt.get("p").unwrap().info.name, "echo");

    // The atomic deploy: a new symlink renamed over the old one.
    let tmp = root.join("plugins.d.new");
    std::os::unix::fs::symlink(&v2, &tmp).unwrap();
    std::fs::rename(&tmp, &link).unwrap();
    wait_for_all(
        &mut rx,
        &[("replaced", "p"), ("removed", "k"), ("loaded", "n")],
    )
    .await;
    assert_eq!(rt.get("p").unwrap().info.name, "keyword");
    assert!(rt.get("k").is_none());

    // The watcher now follows the new target, and no longer the old one.
    std::fs::copy(wasm("echo"), v1.join("old.wasm")).unwrap();
    std::fs::copy(wasm("echo"), v2.join("late.wasm")).unwrap();
    wait_for(&mut rx, |ev| is(ev, "loaded", "late")).await;
    assert!(rt.get("old").is_none());
    assert_eq!(
        answer_rt(&rt, "late", "here").await,
        Some(PluginOutcome::Reply(Reply::Text("here".into())))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_no_event_reports_are_picked_up_by_the_rescan() {
    let e = env(Default::default());
    // No filesystem events at all (as after lost events): only the rescan.
    let rt = runtime_over(&e, e.plugins_dir(), false, Some(Duration::from_millis(200)));
    e.install("echo", "p");
    rt.load_all().await.unwrap();
    rt.watch().unwrap();
    let mut rx = rt.subscribe();

    e.install("keyword", "p");
    wait_for(&mut rx, |ev| is(ev, "replaced", "p")).await;
    assert_eq!(rt.get("p").unwrap().info.name, "keyword");
    e.install("echo", "q");
    wait_for(&mut rx, |ev| is(ev, "loaded", "q")).await;
    std::fs::remove_file(e.plugins_dir().join("p.wasm")).unwrap();
    wait_for(&mut rx, |ev| is(ev, "removed", "p")).await;
    // Same content copied again (a new inode): looked at, nothing to do.
    e.install("echo", "q");
    wait_for(
        &mut rx,
        |ev| matches!(ev, ReloadEvent::Unchanged { id } if id == "q"),
    )
    .await;
    assert_eq!(rt.plugins().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_in_the_plugins_dir_never_blocks_other_reloads() {
    let e = env(Default::default());
    let rt = runtime_over(&e, e.plugins_dir(), true, Some(Duration::from_millis(200)));
    let mkfifo = |name: &str| {
        let path = e.plugins_dir().join(name);
        let ok = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mkfifo {}", path.display());
    };
    mkfifo("f.wasm");
    e.install("echo", "p");
    let mut rx = rt.subscribe();
    // Nobody ever writes to the FIFO: opening it for reading would block.
    tokio::time::timeout(Duration::from_secs(10), rt.load_all())
        .await
        .expect("load_all blocked on a FIFO")
        .unwrap();
    let seen = wait_for(&mut rx, |ev| is(ev, "failed", "f")).await;
    match seen.last().unwrap() {
        ReloadEvent::Failed { error, .. } => {
            assert!(error.contains("not a regular file"), "{error}")
        }
        _ => unreachable!(),
    }
    assert!(rt.get("p").is_some());

    // While watching (events and rescans), a new FIFO and a new plugin.
    rt.watch().unwrap();
    mkfifo("g.wasm");
    e.install("keyword", "k");
    wait_for_all(&mut rx, &[("failed", "g"), ("loaded", "k")]).await;
    tokio::time::timeout(Duration::from_secs(10), rt.rescan())
        .await
        .expect("rescan blocked on a FIFO")
        .unwrap();
    assert_eq!(rt.plugins().len(), 2);
}

async fn answer_rt(rt: &wxhost::plugin::Runtime, id: &str, s: &str) -> Option<PluginOutcome> {
    let p = rt.get(id)?;
    Some(
        p.call(&HandlerInput::new(&text(s)), deadline())
            .await
            .unwrap(),
    )
}
